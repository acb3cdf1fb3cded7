// The Lua scripts of the Redis cluster engine: each runs atomically in Redis, so seq, buffer, membership, host
// election and their pub/sub notices agree across relay nodes. Key layout (LUA_KEYS) and notices: wire.ts.
import { LUA_KEYS } from './wire.ts';

/** Shared Lua prelude: Redis time in ms, key names, and the notices published on a room's slot channel. */
const PRELUDE = LUA_KEYS + `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function curSeq(P, room) return tonumber(redis.call('GET', rk(P, room, R.seq)) or '0') end
local function presence(channel, seq, joined, room, device)
  redis.call('PUBLISH', channel, 'P|' .. seq .. '|' .. joined .. '|' .. #room .. '|' .. room .. device)
end
local function hostNotice(channel, seq, room, device)
  redis.call('PUBLISH', channel, 'H|' .. seq .. '|' .. #room .. '|' .. room .. device)
end
-- A member's value: node|token|joinedAt|userId (userId empty in insecure development).
local function split(v)
  local a = string.find(v, '|', 1, true)
  local b = string.find(v, '|', a + 1, true)
  local c = string.find(v, '|', b + 1, true)
  if not c then return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1), tonumber(string.sub(v, b + 1)), '' end
  return string.sub(v, 1, a - 1), string.sub(v, a + 1, b - 1), tonumber(string.sub(v, b + 1, c - 1)), string.sub(v, c + 1)
end
-- Whether the room's log holds an envelope younger than ttl ms.
local function hasBuffered(P, room, now, ttl)
  local last = redis.call('XREVRANGE', rk(P, room, R.log), '+', '-', 'COUNT', 1)[1]
  return last ~= nil and tonumber(last[2][2]) >= now - ttl
end
-- A claimed room's owner is kept while it has members; once empty, for the buffer window.
local function releaseOwner(P, room, ttl)
  redis.call('PEXPIRE', rk(P, room, R.owner), ttl)
end
local function longest(mk)
  local all = redis.call('HGETALL', mk)
  local best, since = nil, nil
  for i = 1, #all, 2 do
    local _, _, at = split(all[i + 1])
    if since == nil or at < since then best, since = all[i], at end
  end
  return best
end
local function roomState(P, room, host, cur)
  local res = {host or '', cur}
  local all = redis.call('HGETALL', rk(P, room, R.members))
  for i = 1, #all, 2 do
    local node, _, at = split(all[i + 1])
    res[#res + 1] = all[i]; res[#res + 1] = node; res[#res + 1] = at
  end
  return res
end
`;

/**
 * ACCEPT. KEYS: seq, log, msgId key (or any key when no msgId), bufrooms, buffered, bytes.
 * ARGV: room, from, to, head, tail, ttlMs, channel, hasMsgId (1/0), receivedAt, roomBytes.
 * The log's entry IDs are `seq-0`; its oldest entries leave once past roomBytes, and past the window (checked every
 * 16th envelope: one XRANGE of the head).
 * Returns {seq, duplicate}.
 */
export const ACCEPT = `
local ttl = tonumber(ARGV[6])
if ARGV[8] == '1' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {tonumber(seen), 1} end
end
local seq = redis.call('INCR', KEYS[1])
local text = ARGV[4] .. seq .. ARGV[5]
local t = redis.call('TIME')
local created = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = seq .. '-0'
redis.call('XADD', KEYS[2], id, 'c', created, 'f', ARGV[2], 't', ARGV[3], 'x', text)
local bytes = redis.call('INCRBY', KEYS[6], #text)
local limit, oldest = tonumber(ARGV[10]), created - ttl
local removed = 0
-- The window is trimmed every 16th envelope (REPLAY leaves out what is older meanwhile); the byte limit at once.
while bytes > limit or seq % 16 == 0 do
  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  if first == nil or first[1] == id then break end
  if tonumber(first[2][2]) >= oldest and bytes <= limit then break end
  redis.call('XDEL', KEYS[2], first[1])
  bytes = redis.call('DECRBY', KEYS[6], #first[2][8])
  removed = removed + 1
end
redis.call('INCRBY', KEYS[5], 1 - removed)
redis.call('ZADD', KEYS[4], created, ARGV[1])
if ARGV[8] == '1' then redis.call('SET', KEYS[3], seq, 'PX', ttl) end
redis.call('PUBLISH', ARGV[7], 'E|' .. seq .. '|' .. created .. '|' .. ARGV[9] .. '|' .. #ARGV[1] .. '|' .. #ARGV[2] .. '|' .. #ARGV[3] .. '|' .. ARGV[1] .. ARGV[2] .. ARGV[3] .. text)
return {seq, 0}
`;

/**
 * REPLAY. KEYS: seq, log. ARGV: afterSeq, windowMs (entries older than this are left out), maxBytes (a page: stops
 * once that many bytes of text are taken, at least one entry).
 * Returns {cur, more (1/0), seq1, createdAt1, from1, to1, text1, seq2, …} oldest first.
 */
export const REPLAY = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local after, maxBytes = tonumber(ARGV[1]), tonumber(ARGV[3])
local res = {cur, 0}
if after >= cur then return res end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local start = (after + 1) .. '-0'
local bytes = 0
while true do
  local batch = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 100)
  for i = 1, #batch do
    if bytes >= maxBytes then res[2] = 1 return res end
    local f = batch[i][2]
    if tonumber(f[2]) >= cutoff then
      res[#res + 1] = tonumber(string.match(batch[i][1], '^(%d+)'))
      res[#res + 1] = f[2]; res[#res + 1] = f[4]; res[#res + 1] = f[6]; res[#res + 1] = f[8]
      bytes = bytes + #f[8]
    end
  end
  if #batch < 100 then break end
  start = '(' .. batch[#batch][1]
end
return res
`;

/** POSITION. KEYS: seq, epoch. ARGV: a new epoch, kept when the room has none. Returns {seq, epoch}. */
export const POSITION = `
redis.call('SET', KEYS[2], ARGV[1], 'NX')
return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('GET', KEYS[2])}
`;

/**
 * JOIN. ARGV: prefix, room, device, nodeId, token, devicesPerRoom, ttlMs, channel, restore (1: only add when absent),
 * revoked set's key, then the token's userId (empty in insecure development), the device's and the room's names in
 * the revoked set (refusals.ts revocationKey), and claim (1: the first account to join owns the room while it has
 * members or buffered envelopes), in the order userId, device key, claim, room key. Returns {'REVOKED'} when a node has
 * seen the device revoked, {'REMOVED'} for a removed project's room, {'LABEL_TAKEN'}, {'ROOM_TAKEN'}, {'FULL'}, or
 * the room state {host, cur, device1, node1, joinedAt1, …} after the join.
 */
export const JOIN = PRELUDE + `
local P, room, device, node, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit, ttl, channel, restore = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8], ARGV[9] == '1'
local revoked, user, claim = ARGV[10], ARGV[11], ARGV[13] == '1'
local mk, hk, ak = rk(P, room, R.members), rk(P, room, R.host), rk(P, room, R.away)
if user ~= '' then
  if redis.call('SISMEMBER', revoked, ARGV[12]) == 1 then return {'REVOKED'} end
  if redis.call('SISMEMBER', revoked, ARGV[14]) == 1 then return {'REMOVED'} end
end
local now = nowMs()
local cur = curSeq(P, room)
local prev = redis.call('HGET', mk, device)
local count = redis.call('HLEN', mk)
if prev and restore then return roomState(P, room, redis.call('GET', hk), cur) end
if user ~= '' and prev then
  local _, _, _, holder = split(prev)
  if holder ~= '' and holder ~= user then return {'LABEL_TAKEN'} end
end
if user ~= '' and claim then
  local ok = rk(P, room, R.owner)
  local owner = redis.call('GET', ok)
  if owner and owner ~= user and (count > 0 or hasBuffered(P, room, now, ttl)) then return {'ROOM_TAKEN'} end
  redis.call('SET', ok, user)
end
if not prev and count >= limit then return {'FULL'} end
redis.call('HSET', mk, device, node .. '|' .. token .. '|' .. now .. '|' .. user)
redis.call('HSET', nk(P, node, N.rooms), room, channel)
if count == 0 then redis.call('INCR', ck(P, C.occupied)) end
if prev then
  local prevNode, prevToken = split(prev)
  if prevToken ~= token then
    redis.call('PUBLISH', channel, 'R|' .. cur .. '|' .. #room .. '|' .. #device .. '|' .. room .. device .. prevToken)
    if prevNode ~= node then
      local still = false
      for _, v in ipairs(redis.call('HVALS', mk)) do
        if string.sub(v, 1, #prevNode + 1) == prevNode .. '|' then still = true break end
      end
      if not still then redis.call('HDEL', nk(P, prevNode, N.rooms), room) end
    end
  end
else
  presence(channel, cur, 1, room, device)
end
local host = redis.call('GET', hk)
if not host then
  host = device
  redis.call('SET', hk, device)
  redis.call('DEL', ak)
elseif host == device then
  redis.call('DEL', ak)
elseif redis.call('HEXISTS', mk, host) == 0 then
  local away = redis.call('GET', ak)
  if not away then
    redis.call('SET', ak, now)
  elseif now - tonumber(away) >= ttl then
    host = longest(mk)
    redis.call('SET', hk, host)
    redis.call('DEL', ak)
    if not (host == device and count == 0) then hostNotice(channel, cur, room, host) end
  end
end
return roomState(P, room, host, cur)
`;

/**
 * LEAVE. ARGV: prefix, room, device, nodeId, token, channel, ttlMs. Removes the label only if this connection (token)
 * still holds it; a host that leaves keeps the role for the window (its away time is noted). Returns 1 or 0.
 */
export const LEAVE = PRELUDE + `
local P, room, device, node, token, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local mk = rk(P, room, R.members)
local v = redis.call('HGET', mk, device)
if not v then return 0 end
local _, held = split(v)
if held ~= token then return 0 end
redis.call('HDEL', mk, device)
local still = false
for _, w in ipairs(redis.call('HVALS', mk)) do
  if string.sub(w, 1, #node + 1) == node .. '|' then still = true break end
end
if not still then redis.call('HDEL', nk(P, node, N.rooms), room) end
if redis.call('HLEN', mk) == 0 then
  redis.call('DECR', ck(P, C.occupied))
  releaseOwner(P, room, tonumber(ARGV[7]))
end
presence(channel, curSeq(P, room), 0, room, device)
if redis.call('GET', rk(P, room, R.host)) == device then redis.call('SET', rk(P, room, R.away), nowMs()) end
return 1
`;

/**
 * ELECT. ARGV: prefix, room, ttlMs, channel. After the host's window: the longest-connected member becomes host
 * (or the room forgets its host when empty). Returns ms still to wait, or -1 when nothing is left to do.
 */
export const ELECT = PRELUDE + `
local P, room, ttl, channel = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local mk, hk, ak = rk(P, room, R.members), rk(P, room, R.host), rk(P, room, R.away)
local host = redis.call('GET', hk)
if not host then return -1 end
if redis.call('HEXISTS', mk, host) == 1 then redis.call('DEL', ak) return -1 end
local now = nowMs()
local away = redis.call('GET', ak)
if not away then redis.call('SET', ak, now) return ttl end
local waited = now - tonumber(away)
if waited < ttl then return ttl - waited end
local best = longest(mk)
redis.call('DEL', ak)
if best then
  redis.call('SET', hk, best)
  hostNotice(channel, curSeq(P, room), room, best)
  return 0
end
redis.call('DEL', hk)
return -1
`;

/** STATE. ARGV: prefix, room. The room state as JOIN returns it, changing nothing. */
export const STATE = PRELUDE + `
return roomState(ARGV[1], ARGV[2], redis.call('GET', rk(ARGV[1], ARGV[2], R.host)), curSeq(ARGV[1], ARGV[2]))
`;

/**
 * HOUSEKEEP, run by every node every second. ARGV: prefix, nodeId, deadAfterMs, ttlMs, sweepSelf (1: this
 * node is shutting down), layout (this shard's place in the list the node started with, kept for layout.ts), then
 * (shard identity, newest buffered envelope's time) pairs of every shard as this node last saw them, each kept if newer.
 * Heartbeat; members of nodes silent for deadAfterMs are removed (presence `left`, hosts
 * start their window); buffers of rooms idle past the window are dropped (UNLINK: a long stream is freed off
 * Redis's main thread, which would otherwise stall every node's commands while it frees).
 * Returns {registeredAnew (1/0), nodesSwept, occupiedRooms, bufferedMessages, newest buffered envelope's time (ms, 0: none)}.
 */
export const HOUSEKEEP = PRELUDE + `
local P, self, deadAfter, ttl, sweepSelf = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local now = nowMs()
local anew = 0
local dead
if sweepSelf then
  dead = {self}
else
  anew = redis.call('ZADD', ck(P, C.nodes), now, self)
  if ARGV[6] and ARGV[6] ~= '' then redis.call('SET', ck(P, C.layout), ARGV[6]) end
  for i = 7, #ARGV, 2 do
    local seen = tonumber(redis.call('HGET', ck(P, C.shardMessages), ARGV[i]) or '0')
    if tonumber(ARGV[i + 1]) > seen then redis.call('HSET', ck(P, C.shardMessages), ARGV[i], ARGV[i + 1]) end
  end
  dead = redis.call('ZRANGEBYSCORE', ck(P, C.nodes), '-inf', '(' .. (now - deadAfter), 'LIMIT', 0, 2)
end
for _, id in ipairs(dead) do
  local roomsKey = nk(P, id, N.rooms)
  local held = redis.call('HGETALL', roomsKey)
  for r = 1, #held, 2 do
    local room, channel = held[r], held[r + 1]
    local mk = rk(P, room, R.members)
    local all = redis.call('HGETALL', mk)
    local removed = 0
    for i = 1, #all, 2 do
      if string.sub(all[i + 1], 1, #id + 1) == id .. '|' then
        local device = all[i]
        redis.call('HDEL', mk, device)
        removed = removed + 1
        presence(channel, curSeq(P, room), 0, room, device)
        if redis.call('GET', rk(P, room, R.host)) == device and redis.call('EXISTS', rk(P, room, R.away)) == 0 then
          redis.call('SET', rk(P, room, R.away), now)
        end
      end
    end
    if removed > 0 and redis.call('HLEN', mk) == 0 then
      redis.call('DECR', ck(P, C.occupied))
      releaseOwner(P, room, ttl)
    end
  end
  redis.call('DEL', roomsKey)
  local countedKey = nk(P, id, N.conns)
  for _, key in ipairs(redis.call('SMEMBERS', countedKey)) do redis.call('HDEL', connsKey(P, key), id) end
  redis.call('DEL', countedKey)
  redis.call('ZREM', ck(P, C.nodes), id)
end
local idle = redis.call('ZRANGEBYSCORE', ck(P, C.bufRooms), '-inf', '(' .. (now - ttl), 'LIMIT', 0, 500)
for _, room in ipairs(idle) do
  local bk = rk(P, room, R.log)
  redis.call('DECRBY', ck(P, C.buffered), redis.call('XLEN', bk))
  redis.call('UNLINK', bk, rk(P, room, R.bytes), rk(P, room, R.legacyBuf))
  redis.call('ZREM', ck(P, C.bufRooms), room)
end
local occupied = tonumber(redis.call('GET', ck(P, C.occupied)) or '0')
local buffered = tonumber(redis.call('GET', ck(P, C.buffered)) or '0')
local newest = redis.call('ZREVRANGE', ck(P, C.bufRooms), 0, 0, 'WITHSCORES')[2] or '0'
return {anew, #dead, occupied, buffered, newest}
`;

/** DELIVERED. ARGV: prefix, keepMs, then (room, device, seq) triples: each kept if higher than the stored one. */
export const DELIVERED = PRELUDE + `
local P, keep = ARGV[1], ARGV[2]
for i = 3, #ARGV, 3 do
  local k = rk(P, ARGV[i], R.dlv)
  local old = tonumber(redis.call('HGET', k, ARGV[i + 1]) or '0')
  if tonumber(ARGV[i + 2]) > old then redis.call('HSET', k, ARGV[i + 1], ARGV[i + 2]) end
  redis.call('PEXPIRE', k, keep)
end
return 1
`;

/** HITS. ARGV: windowMs, then (key, count) pairs: each counter raised and given the window as expiry; returns the totals. */
export const HITS = `
local res = {}
for i = 2, #ARGV, 2 do
  local n = redis.call('INCRBY', ARGV[i], ARGV[i + 1])
  if n == tonumber(ARGV[i + 1]) then redis.call('PEXPIRE', ARGV[i], ARGV[1]) end
  res[#res + 1] = n
end
return res
`;

/**
 * CONNS. ARGV: prefix, nodeId, key, n, limit. Open connections per key (limits.ip.connections, limits.user.connections)
 * counted per node, so a dead node's are dropped by HOUSEKEEP. limit > 0: adds n unless the cluster's total would pass
 * limit (returns 1 when added, else 0); limit -1: adds n (a release: -1); limit 0: sets this node's count to n (a restore).
 */
export const CONNS = LUA_KEYS + `
local P, node, key, n, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local k, nk = connsKey(P, key), nk(P, node, N.conns)
if limit > 0 then
  local total = 0
  for _, v in ipairs(redis.call('HVALS', k)) do total = total + tonumber(v) end
  if total + n > limit then return 0 end
end
if limit ~= 0 then n = n + tonumber(redis.call('HGET', k, node) or '0') end
if n > 0 then
  redis.call('HSET', k, node, n)
  redis.call('SADD', nk, key)
else
  redis.call('HDEL', k, node)
  redis.call('SREM', nk, key)
end
return 1
`;

/**
 * LAYOUT (read by layout.ts at start, in one step so that a node beating meanwhile is seen with its layout). ARGV:
 * prefix, deadAfterMs, this node's layout, and 'release' to drop this node's claim (it refuses to start). The first
 * node to check claims the layout for 2 × deadAfterMs (until its heartbeats write it), so two relays started at the
 * same moment with different lists do not both pass.
 * Returns {now (ms), the stored layout ('' when none), relays alive on this server, the claimed layout}.
 */
export const LAYOUT = PRELUDE + `
local P, deadAfter, mine = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if ARGV[4] == 'release' then
  if redis.call('GET', ck(P, C.layoutClaim)) == mine then redis.call('DEL', ck(P, C.layoutClaim)) end
  return {}
end
local now = nowMs()
local stored = redis.call('GET', ck(P, C.layout)) or ''
local claimed = redis.call('GET', ck(P, C.layoutClaim))
if not claimed then
  claimed = mine
  redis.call('SET', ck(P, C.layoutClaim), mine, 'PX', 2 * deadAfter)
end
return {now, stored, redis.call('ZCOUNT', ck(P, C.nodes), now - deadAfter, '+inf'), claimed}
`;
