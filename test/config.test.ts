import { describe, expect, it } from 'vitest';
import { defaultConfig, loadConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';

describe('the configuration', () => {
  it('has its defaults in the schema only: an empty environment gives the shipped settings', () => {
    expect(defaultConfig).toMatchObject({
      PULLWATCH_STALE_AFTER_SECONDS: 7200,
      PULLWATCH_REMINDER_SECONDS: 86_400,
      PULLWATCH_CYCLE_SECONDS: 60,
      PULLWATCH_DEPLOYMENT: 'local',
    });
    expect(loadConfig({ PULLWATCH_STALE_AFTER_SECONDS: '0' }).PULLWATCH_STALE_AFTER_SECONDS).toBe(0);
  });

  it("accepts the logger's levels and refuses, by name, one Powertools would silently ignore", () => {
    expect(loadConfig({ POWERTOOLS_LOG_LEVEL: 'DEBUG', LOG_LEVEL: 'WARN' })).toMatchObject({
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
      LOG_LEVEL: 'WARN',
    });
    expect(() => loadConfig({ LOG_LEVEL: 'debug' })).toThrow(ConfigError);
    expect(() => loadConfig({ POWERTOOLS_LOG_LEVEL: 'VERBOSE' })).toThrow(/POWERTOOLS_LOG_LEVEL/);
    // An empty value means unset, as for every other variable.
    expect(loadConfig({ LOG_LEVEL: '' }).LOG_LEVEL).toBeUndefined();
  });
});
