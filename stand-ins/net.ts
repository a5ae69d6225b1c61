// A free TCP port on loopback, for a child process that must be told its port (bqemulator, a test's
// PostgreSQL): the port is free when this returns; the child binds it moments later.
import * as net from "net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
