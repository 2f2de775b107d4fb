#!/usr/bin/env node
// The `moat` command. Each subcommand lives in its own file and registers itself here.
import { Command } from "commander";
import { registerDeploy } from "./deploy.js";
import { registerGateway } from "./gateway.js";
import { registerHost } from "./host.js";
import { registerInit } from "./init.js";
import { registerLab } from "./lab.js";
import { registerLogs } from "./logs.js";
import { registerRender } from "./render.js";
import { registerSchema } from "./schema.js";
import { registerTelegram } from "./telegram.js";
import { exitCodesHelp, runMain } from "./util.js";
import { registerValidate } from "./validate.js";
import { registerVerify } from "./verify.js";

const program = new Command("moat")
  .description("Put an AI agent behind a tested perimeter on a cheap cloud VM, and prove it holds.")
  .version("0.1.0")
  .exitOverride()
  .showHelpAfterError()
  .addHelpText("after", exitCodesHelp);

registerInit(program);
registerValidate(program);
registerRender(program);
registerSchema(program);
registerGateway(program);
registerHost(program);
registerVerify(program);
registerLab(program);
registerDeploy(program);
registerLogs(program);
registerTelegram(program);

await runMain(program);
