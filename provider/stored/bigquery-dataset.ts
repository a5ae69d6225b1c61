// The provider of every BigQueryDataset in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/bigquery-dataset.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { bigQueryDatasetOperations } from "../gcp/bigquery-dataset";
import { engineProvider } from "../operations-provider";

export = engineProvider(bigQueryDatasetOperations);
