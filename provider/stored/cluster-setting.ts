// The provider of every ClusterSetting in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/cluster-setting.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { clusterSettingOperations } from "../cockroach/cluster-setting";
import { engineProvider } from "../operations-provider";

export = engineProvider(clusterSettingOperations);
