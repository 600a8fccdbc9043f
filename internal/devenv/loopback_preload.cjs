'use strict';
// Preloaded with `node --require` by internal/devenv. Servers that call
// listen(port) bind every interface; this forces each TCP listen of the
// process onto the loopback host so a test server is never reachable from
// the network. Unix-socket, fd and handle listens are left alone.
const net = require('net');

const HOST = process.env.ACTIONGATE_LISTEN_HOST || '127.0.0.1';
const original = net.Server.prototype.listen;

function isPortLike(v) {
  return v === undefined || v === null || typeof v === 'number' ||
    (typeof v === 'string' && /^\d+$/.test(v));
}

function forceHost(args) {
  const first = args[0];
  if (typeof first === 'function') {
    return [0, HOST, ...args]; // listen(cb): random port
  }
  if (first !== null && typeof first === 'object') {
    if ('path' in first || 'fd' in first || 'handle' in first || '_handle' in first) {
      return args;
    }
    return [Object.assign({}, first, { host: HOST }), ...args.slice(1)];
  }
  if (!isPortLike(first)) {
    return args; // a pipe or unix-socket path
  }
  const rest = args.slice(1);
  if (typeof rest[0] === 'string') {
    rest.shift(); // drop the caller's host
  }
  return [first === undefined || first === null ? 0 : first, HOST, ...rest];
}

net.Server.prototype.listen = function listen(...args) {
  this.once('listening', () => {
    const a = this.address();
    if (a && typeof a === 'object') {
      process.stderr.write(`actiongate-loopback: listening on ${a.address}:${a.port}\n`);
    }
  });
  return original.apply(this, forceHost(args));
};
