// The provider of every BigQueryView in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bigquery-view.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bigQueryViewOperations } from "../gcp/bigquery-view";
import { engineProvider } from "../operations-provider";

export = engineProvider(bigQueryViewOperations);
