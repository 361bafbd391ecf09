/**
 * `[bot_control] chatlevel`: how much the bot comments. Each comment kind needs a level and is
 * posted only when the configured level is at least that (incognito < minimal < basic < chatty).
 * Here, not in config/, because the comment-posting path (github/) applies it and may import
 * only common/.
 */
export const CHAT_LEVELS = ['incognito', 'minimal', 'basic', 'chatty'] as const;
export type ChatLevel = (typeof CHAT_LEVELS)[number];

/** incognito < minimal < basic < chatty: a comment needing `needed` is posted at `configured`. */
export function mayPost(configured: ChatLevel, needed: ChatLevel): boolean {
  return CHAT_LEVELS.indexOf(configured) >= CHAT_LEVELS.indexOf(needed);
}
