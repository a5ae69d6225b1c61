// Root program (placeholder): shows the changefeed SELECT the pipeline will create.
// It becomes the config-driven AuditStream program with the pipeline issue.
import { buildChangefeedQuery } from "../../provider";

export const changefeedQuery = buildChangefeedQuery({});
