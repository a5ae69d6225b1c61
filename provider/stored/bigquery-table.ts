// The provider of every BigQueryTable in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bigquery-table.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bigQueryTableOperations } from "../gcp/bigquery-table";
import { engineProvider } from "../operations-provider";

export = engineProvider(bigQueryTableOperations);
