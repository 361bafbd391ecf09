/**
 * Which GitHub App the bot acts as, and where GitHub is: what GitHubClient needs from app.cfg's
 * [github] section. The app module fills it from AppConfig, so that this module does not depend
 * on the config module (see docs/architecture.md, "Modules and who may import whom").
 */
export interface GitHubAppSettings {
  readonly appId: number;
  /** Shown in the User-Agent, so GitHub's logs tell the bot instances apart. */
  readonly appName: string;
  readonly installationId: number;
  /** PEM text of the App's private key (never logged). */
  readonly privateKey: string;
  /** The file the key was read from, named in error messages. */
  readonly privateKeyPath: string;
  /** REST API base URL, e.g. https://api.github.com (GitHub Enterprise: its /api/v3). */
  readonly apiUrl: string;
  /** The app.cfg these came from, named in error messages ("check app_id in [github] of …"). */
  readonly configPath: string;
}

/** Nest injection token for GitHubAppSettings. */
export const GITHUB_APP_SETTINGS = Symbol('GITHUB_APP_SETTINGS');
