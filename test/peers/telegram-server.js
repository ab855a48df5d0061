// Starts telegram-test-api on 127.0.0.1:PORT for the Go tests, prints
// "ready" and runs until killed. Clients (simulated users) use its HTTP API:
// POST /sendMessage {botToken, from, chat, text, ...} and
// POST /getUpdates {token} — see node_modules/telegram-test-api/lib.
'use strict';
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2] || 9001);
const server = new TelegramServer({port, host: '127.0.0.1', storeTimeout: 60});
server.start().then(() => {
  process.stdout.write('ready ' + server.config.apiURL + '\n');
}).catch((err) => {
  process.stderr.write(String(err) + '\n');
  process.exit(1);
});
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
