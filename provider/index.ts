// zitadel-audit-stream: Pulumi dynamic resources for ZITADEL's audit-log stream into Cloud Storage.
// Pure builders for the changefeed's SQL and sink URI.
export { buildChangefeedQuery, loadSqlParser, validateRawQuery, ChangefeedQueryOptions, MAX_LIST } from "./cdc/query";
export { buildSinkUri, redactSinkUri, encodeCredentials, SinkUriOptions } from "./cdc/sink";
export {
  buildCreateChangefeedStatement,
  renderChangefeedOptions,
  ChangefeedOptions,
  CreateChangefeedStatementOptions,
} from "./cdc/statement";
export { EVENTS2_COLUMNS, EVENTS2_PRIMARY_KEY, GUIDE_COLUMNS, DEFAULT_TABLE, Events2Column } from "./cdc/events2";
export { ValidationError, FieldProblem } from "./validation";
