// The events the tests insert into the twin (the stand-ins' ZITADEL events) and what reached the
// destinations (tools/harness/delivered.ts), from one place.
export { ZitadelEvent, makeEvents, insertEvents, insertContinuously, eventKey, insertedKey } from "../../stand-ins";
export { Delivered, readDelivered, pullMessages, Accounting, account, waitFor } from "../../tools/harness/delivered";
