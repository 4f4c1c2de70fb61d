import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const EnvSchema = z.object({
  PHASELINE_HTTP_HOST: z.string().default('127.0.0.1'),
  PHASELINE_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  PHASELINE_VAR: z.string().default('var'),
  PHASELINE_CONFIG: z.string().default('config'),
  PHASELINE_SIMULATOR: z.enum(['on', 'off']).default('on'),
  PHASELINE_DEMO_MES: z.enum(['on', 'off']).optional(),
  PHASELINE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NATS_URL: z.string().optional(),
  NATS_SERVER_BIN: z.string().optional(),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  PHASELINE_NATS_AUTH: z.enum(['on', 'off']).default('on'),
  PHASELINE_TLS: z.enum(['on', 'off', '1', '0', 'true', 'false']).default('off'),
  PHASELINE_TLS_CERT: z.string().optional(),
  PHASELINE_TLS_KEY: z.string().optional(),
  PHASELINE_TLS_CA: z.string().optional(),
});

/** The process environment as typed settings: the only place that reads `process.env` (house style). */
export interface Env {
  httpHost: string;
  httpPort: number;
  varDir: string;
  configDir: string;
  simulator: boolean;
  demoMes: boolean;
  logLevel: string;
  natsUrl?: string;
  natsServerBin?: string;
  /** The runtime's NATS user with an external broker (NATS_URL); the embedded broker uses generated users. */
  natsUser?: string;
  natsPassword?: string;
  /** Embedded broker: per-source edge users and a runtime user (default on; `off` = no authentication). */
  natsAuth: boolean;
  /** PHASELINE_TLS: the embedded broker and HTTP listen with TLS; clients trust `tls.caFile`. */
  tls: boolean;
  tlsFiles: { certFile?: string; keyFile?: string; caFile?: string };
}

export function readEnv(source: Record<string, string | undefined> = process.env): Env {
  const r = EnvSchema.safeParse(source);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError('environment', issue.path.join('.'), issue.message);
  }
  const e = r.data;
  const simulator = e.PHASELINE_SIMULATOR === 'on';
  return {
    httpHost: e.PHASELINE_HTTP_HOST,
    httpPort: e.PHASELINE_HTTP_PORT,
    varDir: resolve(e.PHASELINE_VAR),
    configDir: resolve(e.PHASELINE_CONFIG),
    simulator,
    demoMes: e.PHASELINE_DEMO_MES ? e.PHASELINE_DEMO_MES === 'on' : simulator,
    logLevel: e.PHASELINE_LOG_LEVEL,
    natsUrl: e.NATS_URL || undefined,
    natsServerBin: e.NATS_SERVER_BIN || undefined,
    natsUser: e.NATS_USER || undefined,
    natsPassword: e.NATS_PASSWORD || undefined,
    natsAuth: e.PHASELINE_NATS_AUTH === 'on',
    tls: ['on', '1', 'true'].includes(e.PHASELINE_TLS),
    tlsFiles: {
      certFile: e.PHASELINE_TLS_CERT ? resolve(e.PHASELINE_TLS_CERT) : undefined,
      keyFile: e.PHASELINE_TLS_KEY ? resolve(e.PHASELINE_TLS_KEY) : undefined,
      caFile: e.PHASELINE_TLS_CA ? resolve(e.PHASELINE_TLS_CA) : undefined,
    },
  };
}
