// The provider of every BigQueryNativeTable in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bigquery-native-table.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bigQueryNativeTableOperations } from "../gcp/bigquery-native-table";
import { engineProvider } from "../operations-provider";

export = engineProvider(bigQueryNativeTableOperations);
