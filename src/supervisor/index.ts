export type {
  LoadConfigOptions,
  LogLevel,
  ParseConfigOptions,
  ResolvedConfig,
  ResolvedService,
  RestartPolicy,
  ServiceConfig,
  WarrenConfig,
} from './config.js';
export { CONFIG_DEFAULTS, CONFIG_FILE_NAMES, configSchema, loadConfig, parseConfig } from './config.js';
export type { ConnectControlOptions, ControlCallOptions, ControlLogsOptions, SupervisorHello } from './control-client.js';
export { ControlClient, connectControl, isNoSupervisorError } from './control-client.js';
export { defineConfig } from './define-config.js';
export { CONFIG_JSON_SCHEMA_FILE, configJsonSchema } from './json-schema.js';
export type { LogLine, LogsOptions, SupervisorLog, SupervisorLogOptions } from './logger.js';
export { createSupervisorLog } from './logger.js';
export { createSupervisorOutput, LOG_PRETTY_ENV } from './output.js';
export type {
  ExitInfo,
  InstanceState,
  InstanceStatus,
  LogRecord,
  ReloadResult,
  ScaleResult,
  ServiceStatus,
  StandbyStatus,
  SupervisorStatus,
} from './protocol.js';
export { CONTROL, CONTROL_SOCKET } from './protocol.js';
export type { SupervisorOptions, SupervisorOutput } from './supervisor.js';
export { Supervisor } from './supervisor.js';
