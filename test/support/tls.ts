/**
 * A throwaway certificate authority for federation tests, made with the
 * openssl command line (Debian's openssl, on every machine we run on):
 * servers get certificates for their names from it, and trust it through
 * federation.trusted_ca_paths, as Pis on a LAN with their own CA would.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCa {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface IssuedCert {
  readonly certPath: string;
  readonly keyPath: string;
}

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });

export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "pimatrix-ca-"));
  const certPath = join(dir, "ca.crt");
  const keyPath = join(dir, "ca.key");
  openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", certPath,
    "-days", "2", "-subj", "/CN=pimatrix test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { dir, certPath, keyPath };
}

let serial = 0;

/** A server certificate signed by the CA for these DNS names and IP addresses. */
export function issueCert(ca: TestCa, names: string[]): IssuedCert {
  const base = join(ca.dir, `leaf${++serial}`);
  const ext = `${base}.ext`;
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${names[0]}`]);
  openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", ca.certPath, "-CAkey", ca.keyPath, "-CAcreateserial", "-out", `${base}.crt`, "-days", "2", "-extfile", ext]);
  return { certPath: `${base}.crt`, keyPath: `${base}.key` };
}

/** A port free on 127.0.0.1 now (a server name must name its port before the server starts). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
