// The provider of every PgPublication in a stack's state: state holds only
// `require("zitadel-audit-stream/dist/provider/stored/pg-publication.js")` (see provider/operations-provider.ts).
// This path is stable API: stacks keep it until their next `up`.
import { pgPublicationOperations } from "../postgres/pg-publication";
import { engineProvider } from "../operations-provider";

export = engineProvider(pgPublicationOperations);
