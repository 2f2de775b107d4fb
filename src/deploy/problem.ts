import { MoatError } from "../errors.js";
// Every failure deploy can explain in one line extends this, so the CLI prints it plainly (and
// need not load the SSH library just to recognise it).
export class DeployProblem extends MoatError {
  override readonly name: string = "DeployProblem";
  readonly code: string = "MOAT_DEPLOY_PROBLEM";
}
