// OCI's "Out of host capacity": the Always Free A1 shape is often sold out in an availability
// domain. Deploy retries across the region's ADs, waiting longer after each full round, up to a
// limit the user sets. Pure: the shell runs the schedule.

// OCI answers `500-InternalError, Out of host capacity.` (Terraform prints it inside an Error block).
export const isOutOfCapacity = (output: string): boolean => /out of host capacity/i.test(output);

export interface CapacityPolicy {
  // Total `tofu apply` attempts, the first included.
  maxAttempts: number;
  // How many availability domains to rotate through (OCI regions have 1 or 3).
  ads: number;
  // Wait after the first full round of ADs; doubled after each further round.
  waitSeconds: number;
  maxWaitSeconds: number;
}

export const DEFAULT_CAPACITY_POLICY: CapacityPolicy = {
  maxAttempts: 6,
  ads: 3,
  waitSeconds: 60,
  maxWaitSeconds: 900,
};

export interface Attempt {
  attempt: number;
  adIndex: number;
  // Seconds to wait before this attempt.
  waitSeconds: number;
}

// Starts in `startAd` (the AD that worked last time, so a re-run never moves the instance) and
// tries every other AD right away; a full round of refusals earns a backoff.
export function capacitySchedule(policy: CapacityPolicy, startAd = 0): Attempt[] {
  const ads = Math.max(1, Math.floor(policy.ads));
  return Array.from({ length: Math.max(1, Math.floor(policy.maxAttempts)) }, (_, k) => {
    const round = Math.floor(k / ads);
    const wait =
      k > 0 && k % ads === 0 ? Math.min(policy.maxWaitSeconds, policy.waitSeconds * 2 ** (round - 1)) : 0;
    return { attempt: k + 1, adIndex: (startAd + k) % ads, waitSeconds: wait };
  });
}
