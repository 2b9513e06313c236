// Unleash for the tests: its database, port and admin API token come from the environment
// (DATABASE_URL, HTTP_PORT, INIT_ADMIN_API_TOKENS), read by unleash-server itself.
const unleash = require('unleash-server');

unleash
  .start({
    db: { ssl: false },
    server: { host: '127.0.0.1', enableRequestLogger: false },
    logLevel: 'warn',
    versionCheck: { enable: false },
    sendTelemetry: false,
  })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
