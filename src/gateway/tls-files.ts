/**
 * The gateway's certificate, key and intermediate certificates: read from their PEM files and
 * checked (the key opens with the passphrase and belongs to the certificate) before any server
 * uses them, at start and on every reload. A problem is a ConfigError with one line naming the
 * key (`gateway.tls.keyFile`), the file and the fix.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { ResolvedGatewayConfig } from '../config/gateway.js';
import { ConfigError } from '../errors.js';

export type TlsFiles = NonNullable<ResolvedGatewayConfig['tls']>;

/** What a secure server is given, and what the log says about it. */
export interface TlsMaterial {
  /** For createSecureServer / setSecureContext: the certificate (with the intermediates of caFile after it) and the key. */
  readonly options: SecureContextOptions;
  /** SHA-256 fingerprint of the certificate, as `AB:CD:…`. */
  readonly fingerprint256: string;
  /** End of the certificate's validity, as openssl prints it. */
  readonly validTo: string;
  readonly expired: boolean;
}

function problem(key: string, message: string): ConfigError {
  const path = `gateway.tls.${key}`;
  return new ConfigError(`invalid gateway config: ${path}: ${message}`, { issues: [{ path, message }] });
}

const ENV: Record<string, string> = { certFile: ' or TLS_CERT_FILE', keyFile: ' or TLS_KEY_FILE', caFile: '' };

async function readPem(key: 'certFile' | 'keyFile' | 'caFile', file: string, what: string): Promise<Buffer> {
  const path = resolve(file);
  try {
    return await readFile(path);
  } catch (error) {
    const reason = (error as Error).message.replace(/,? open '.*'$/, '');
    throw problem(key, `cannot read ${JSON.stringify(path)} (${reason}): expected a readable ${what} (set gateway.tls.${key}${ENV[key]})`);
  }
}

/** Why OpenSSL refused, without its error-stack prefix (`error:1E08010C:DECODER routines::unsupported` → `unsupported`). */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '');
}

/**
 * Reads and checks the files of `gateway.tls`. Relative paths are taken from the working directory.
 * @example
 * const material = await readTlsMaterial({ certFile: 'cert.pem', keyFile: 'key.pem' });
 */
export async function readTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, ca] = await Promise.all([
    readPem('certFile', files.certFile, 'PEM certificate file'),
    readPem('keyFile', files.keyFile, 'PEM private key file'),
    files.caFile === undefined ? undefined : readPem('caFile', files.caFile, 'PEM file of intermediate certificates'),
  ]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (error) {
    throw problem(
      'certFile',
      `${JSON.stringify(resolve(files.certFile))} is not a PEM certificate (${reasonOf(error)}): expected the server's certificate`,
    );
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(files.passphrase === undefined ? { key } : { key, passphrase: files.passphrase });
  } catch (error) {
    // OpenSSL 3 says "interrupted or cancelled" for an encrypted key without a passphrase: the PEM header tells.
    const encrypted = (error as NodeJS.ErrnoException).code === 'ERR_MISSING_PASSPHRASE' || key.includes('ENCRYPTED');
    const fix =
      encrypted && files.passphrase === undefined
        ? 'the key is encrypted: set gateway.tls.passphrase'
        : files.passphrase === undefined
          ? 'expected an unencrypted PEM private key'
          : 'expected a PEM private key that gateway.tls.passphrase opens';
    throw problem('keyFile', `${JSON.stringify(resolve(files.keyFile))} cannot be used (${reasonOf(error)}): ${fix}`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw problem(
      'keyFile',
      `${JSON.stringify(resolve(files.keyFile))} is not the key of the certificate ${JSON.stringify(resolve(files.certFile))}: give the key the certificate was made for`,
    );
  }
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw problem(
      'caFile',
      `${JSON.stringify(resolve(files.caFile as string))} holds no PEM certificate: expected the intermediate certificates, PEM`,
    );
  }
  // The chain as TLS sends it: the certificate, then the intermediates that lead to a trusted root.
  const chain = ca === undefined ? cert : Buffer.concat([cert, Buffer.from('\n'), ca]);
  const options: SecureContextOptions = { cert: chain, key, ...(files.passphrase === undefined ? {} : { passphrase: files.passphrase }) };
  try {
    createSecureContext(options);
  } catch (error) {
    throw problem(ca === undefined ? 'certFile' : 'caFile', `the certificate chain cannot be used (${reasonOf(error)})`);
  }
  return { options, fingerprint256: x509.fingerprint256, validTo: x509.validTo, expired: Date.parse(x509.validTo) < Date.now() };
}
