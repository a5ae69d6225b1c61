// What a Changefeed tells the user when it stops or leaves something behind: one named function per
// message, the words a user reads in the CLI kept apart from the control flow that decides on them.
// Each says what happened, what was and was not changed, and what to do next.

/** A create whose answer was lost, and the lookup for what it made failed too. */
export const createAnswerLost = (failure: string, lookupFailure: string, marker: string) =>
  `${failure}; whether the job was made cannot be read (${lookupFailure}): a job of this resource (metrics_label ${marker}) may run. The next \`pulumi up\` continues from it, and \`pulumi destroy\` cancels it.`;

/** The feed would continue from a time CockroachDB has garbage-collected (docs/gc-window.md). */
export const gcWindowPassed = (cursor: string) =>
  `changefeed: it would continue from ${cursor}, which is older than CockroachDB's garbage-collection window (gc.ttlseconds, and no protected timestamp holds it any more), so the events since then can no longer be read by a changefeed. Nothing was changed. The files already delivered stay. To continue with a gap, set options.cursor to a recent time (the gap, from ${cursor} to it, is then recorded in the output \`gaps\`) and run \`pulumi up\`.`;

/** A job that never checkpointed is gone, and a state from before 0.3 does not say when it started. */
export const startUnknown = (jobId: string) =>
  `changefeed job ${jobId} is gone and never checkpointed, and state does not record when it started (a stack from before version 0.3), so where to continue is unknown. Set options.cursor to the time the feed was first created (or earlier: duplicates, never gaps) and run \`pulumi up\`.`;

/** A handoff failed and whether its new job still runs is not known: the old one stays paused. */
export const handoffUnsure = (failure: string, clearFailure: string, oldId: string, highWater: string, resumeAdvice: string) =>
  `${failure}. Whether a new job still runs cannot be made sure (${clearFailure}), so the previous job ${oldId} was left paused at high-water ${highWater}, not resumed beside it: the next \`pulumi up\` cancels any new job of this resource and resumes ${oldId}; ${resumeAdvice}.`;

/** The new sink or options did not work, and the previous key is not in state to set back. */
export const alterFailedNoPreviousKey = (failure: string, status: string) =>
  `the changefeed did not work with the new sink or options (${failure}); the previous key is not in state (an earlier failure left it out), so they were not set back: the job reads ${status} with the new ones. Fix the sink's access and run \`pulumi up\` again.`;

/** The new sink or options did not work; the previous ones were set again and proved. */
export const alterRestored = (failure: string, highWater: string | null) =>
  `the changefeed did not work with the new sink or options (${failure}), so the previous ones were set again, and the job checkpointed with them (high-water ${highWater}).`;

/** The new sink or options did not work, and setting the previous ones back failed too. */
export const alterRestoreFailed = (failure: string, restoreFailure: string, status: string) =>
  `the changefeed did not work with the new sink or options (${failure}), and restoring the previous ones failed too (${restoreFailure}); the job reads ${status}. The next \`pulumi up\` sets the sink and options again and resumes it.`;

/** A feed with implicit or impersonated credentials selected nothing yet, so nothing proves its writes. */
export const nothingToReadBack = (where: string) =>
  `it selected no event since it started, so nothing it wrote can be read back from ${where}, and its credentials (implicit or impersonated) cannot be checked otherwise. Run \`pulumi up\` again once events flow, or set proveDelivery: "checkpoint" to accept its checkpoint`;

/** Another deployment's job of this name runs, and takeOver does not name it. */
export const foreignJobRuns = (others: string, takeOver: string) =>
  `changefeed: a changefeed of a resource with this name already runs, made by another deployment (another backend or organisation, or a stack whose state was lost): ${others}. It is left as it is, and nothing was created. If it is this stream's (its state was lost or moved), set takeOver: "${takeOver}" and run \`pulumi up\`: the feed continues from it and cancels it; otherwise give this resource another name.`;

/** A delete could not cancel its job. */
export const cancelMayHaveFailed = (failure: string, where: string, jobId: string | undefined, marker: string) =>
  `${failure}. The job may still run on CockroachDB at ${where}: run \`pulumi destroy\` (or \`up\`) again once the cluster answers, or cancel it there (CANCEL JOB ${jobId || "<id>"}; its metrics_label is ${marker}).`;

/** The sink's key was refused by Google: deleted or disabled. */
export const keyRefused = (what: string, reason: string) =>
  `${what}: Google does not accept the sink's key (${reason}): it was deleted or disabled. Rotate it (AuditStream: change keyRotationTrigger; ServiceAccountKey: rotationTrigger) and run \`pulumi up\`, or, if it was deleted, \`pulumi refresh\` then \`pulumi up\` makes a new one; the changefeed was left as it was.`;

/** Proof of delivery reads back as the deployer, who has no credentials here. */
export const noDeployerCredentials = (reason: string) =>
  `changefeed: proving delivery reads back what the job writes, as the deploying identity, and there is none: ${reason}. Give the deployer's credentials (gcp:credentials or Application Default Credentials, and gcp:project), or set proveDelivery: "checkpoint" (the job's first checkpoint then counts as proof). Nothing was changed.`;

/** exclusiveKeys on an account this stream did not make. */
export const foreignAccountKeys = (email: string, maker: string, deployment: string) =>
  `not deleting the other keys of ${email}: the account was made by ${maker}, not by this stream (deployment ${deployment}). Its keys are left as they are; use a writer account of this stream (AuditStream makes one), or exclusiveKeys: false.`;
