import { botVersion } from './common/package-version.js';
import type { AppConfig } from './config/app-config.js';
import type { GitHubAppSettings } from './github/github-app.settings.js';
import type { GitHubModuleOptions } from './github/github.module.js';
import type { IntakeOptions } from './intake/intake.options.js';
import type { MonitoringOptions } from './monitoring/monitoring.options.js';

/*
 * What each module needs from app.cfg, taken from AppConfig here so that the github and intake
 * modules do not depend on the config module.
 */

export function githubAppSettingsOf(config: AppConfig): GitHubAppSettings {
  const { appId, appName, installationId, privateKey, privateKeyPath, apiUrl } = config.github;
  return {
    appId,
    appName,
    installationId,
    privateKey,
    privateKeyPath,
    apiUrl,
    configPath: config.configPath,
  };
}

/** The App's settings and the chatlevel that CommentPoster applies to every comment. */
export function githubModuleOptionsOf(config: AppConfig): GitHubModuleOptions {
  return { app: githubAppSettingsOf(config), chatlevel: config.botControl.chatlevel };
}

export function intakeOptionsOf(config: AppConfig): IntakeOptions {
  return {
    stateDir: config.eventHandler.stateDir,
    redeliverIntervalSeconds: config.eventHandler.redeliverIntervalSeconds,
    installationId: config.github.installationId,
    ...(config.github.webhookSecret === undefined
      ? {}
      : { webhookSecret: config.github.webhookSecret }),
  };
}

export function monitoringOptionsOf(config: AppConfig): MonitoringOptions {
  const { statusBind, statusAuth } = config.eventHandler;
  return {
    appName: config.github.appName,
    version: botVersion(),
    apiUrl: config.github.apiUrl,
    jobIdsDir: config.jobManager.jobIdsDir,
    statusBind,
    ...(statusAuth ? { statusAuth } : {}),
  };
}
