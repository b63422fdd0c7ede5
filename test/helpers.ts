/**
 * The shared test kit lives in test/kit/; this re-export keeps the API, bundle and function tests (rewritten on
 * another branch) compiling until they import test/kit themselves.
 */
export { freshStore, type MeteredStore, startTestDb, TEST_SECRET } from './kit/db.ts';
export { at, T0 } from './kit/time.ts';
