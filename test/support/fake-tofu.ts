// A fake `tofu` for deploy tests, standing in only for the Terraform step (no cloud is reachable
// here): it records each argv, prints provider-like progress, keeps a state file in its working
// directory, answers `output -json` with the test VM's address, and answers OCI's "Out of host
// capacity" for the availability domain indexes listed in FAKE_TOFU_FULL_ADS.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPT = `#!/bin/bash
# Fake OpenTofu for Moat's deploy tests (not OpenTofu).
log="\${FAKE_TOFU_LOG:-fake-tofu.log}"
echo "$*" >> "$log"
state=terraform.tfstate
cmd=""; ad=""; key=""
for a in "$@"; do
  case "$a" in
    -var=availability_domain_index=*) ad="\${a#-var=availability_domain_index=}" ;;
    -var=ssh_public_key=*) key="\${a#-var=ssh_public_key=}" ;;
    -*) ;;
    *) [ -z "$cmd" ] && cmd="$a" ;;
  esac
done
case "$cmd" in
  init)
    echo "Initializing the backend..."
    echo "Initializing provider plugins..."
    echo "- Installing oracle/oci v7.0.0 (fake)..."
    echo "OpenTofu has been successfully initialized!" ;;
  apply)
    [ -n "$key" ] || { echo "Error: No value for required variable ssh_public_key" >&2; exit 1; }
    case ",\${FAKE_TOFU_FULL_ADS}," in
      *",$ad,"*)
        echo "oci_core_instance.moat: Creating..."
        echo "╷" >&2
        echo "│ Error: 500-InternalError, Out of host capacity." >&2
        echo "│ Suggestion: The service for this resource encountered an error. Please contact support for help with service: Core Instance" >&2
        echo "╵" >&2
        exit 1 ;;
    esac
    if [ -f "$state" ] && grep -q "\\"ad\\": \\"$ad\\"" "$state"; then
      echo "No changes. Your infrastructure matches the configuration."
      echo "Apply complete! Resources: 0 added, 0 changed, 0 destroyed."
      exit 0
    fi
    n=$(( $(cat created.count 2>/dev/null || echo 0) + 1 )); echo $n > created.count
    for r in oci_core_vcn.moat oci_core_internet_gateway.moat oci_core_subnet.moat oci_core_instance.moat; do
      echo "$r: Creating..."; echo "$r: Creation complete after 1s [id=ocid1.fake.$n]"
    done
    cat > "$state" <<JSON
{
  "fake": true,
  "ad": "$ad",
  "instance_id": "ocid1.instance.oc1..fake$n",
  "resources": ["oci_core_vcn.moat", "oci_core_internet_gateway.moat", "oci_core_subnet.moat", "oci_core_instance.moat"]
}
JSON
    echo "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." ;;
  output)
    if [ -f "$state" ]; then
      id=$(sed -n 's/.*"instance_id": "\\(.*\\)".*/\\1/p' "$state")
      printf '{"instance_id":{"sensitive":false,"type":"string","value":"%s"},"public_ip":{"sensitive":false,"type":"string","value":"%s"}}\\n' "$id" "$FAKE_TOFU_PUBLIC_IP"
    else echo '{}'; fi ;;
  destroy)
    for r in oci_core_instance.moat oci_core_subnet.moat oci_core_internet_gateway.moat oci_core_vcn.moat; do
      [ -f "$state" ] && { echo "$r: Destroying..."; echo "$r: Destruction complete after 1s"; }
    done
    rm -f "$state"
    echo "Destroy complete! Resources: 4 destroyed." ;;
  *) echo "fake tofu: unknown command $cmd" >&2; exit 1 ;;
esac
`;

// Writes bin/tofu under dir; put dir/bin first on PATH.
export function installFakeTofu(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, "tofu"), SCRIPT);
  chmodSync(join(bin, "tofu"), 0o755);
  return bin;
}
