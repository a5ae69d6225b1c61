// Root program of Pulumi.yaml: the guide's pipeline from stack config (see program.ts).
import { auditStreamProgram } from "./program";

export = auditStreamProgram(require("../provider"));
