// The text of `hone-sync --help`: commands, flags, the settings file and the exit codes.
import { VERSION } from '../common/version.ts';
import { EXIT } from './exit-codes.ts';

export const HELP = `hone-sync ${VERSION} — Hone Sync from the command line (sign in, projects, devices, relay messages)

usage:
  hone-sync login <email>                      send a sign-in link and wait until it is opened on any device
  hone-sync logout                             sign this device out (removes it from your account)
  hone-sync status                             settings, who you are, your tier, whether the servers answer
  hone-sync devices                            list your devices
  hone-sync devices rm <id>                    remove a device (it is signed out everywhere within seconds)
  hone-sync projects                           list your synced projects
  hone-sync projects add <dir|key> [--name N]  register a project (a folder's name is its key)
  hone-sync projects rm <id|key>               stop syncing a project
  hone-sync config get [key]                   show settings (all, or one)
  hone-sync config set <key> <value>           change a setting, e.g. config set syncEnabled true
  hone-sync watch <project> [--count N] [--timeout S]
                                               print what arrives in the project's room (Ctrl-C to stop)
  hone-sync send <project> <text> [--to host|broadcast|<device>] [--timeout S]
                                               send a message to the project's room (default --to broadcast)
  hone-sync mirror <dir> --project <key> [--create]
                                               keep a folder in step with your other devices (Ctrl-C to stop);
                                               ignores .git and node_modules; a conflicting edit is kept as
                                               <name>.conflict-<device>; state and lock in <dir>/.hone-sync;
                                               --create: make <dir> when it does not exist

flags:
  --config, -c <file>   settings file (default: $HONE_SYNC_CONFIG, else ~/.hone/sync.conf)
  --json                machine-readable output on stdout (watch: one JSON object per line)
  --help, -h | --version, -v

Sync is off until you turn it on: hone-sync config set syncEnabled true
(until then no command contacts a server). Settings: syncEnabled, syncAuthUrl, syncRelayUrl,
syncDeviceName, syncDeviceToken, syncEmail. The file is KEY=VALUE, mode 0600; per-room
positions are kept beside it (sync.state).

exit codes:
  ${EXIT.OK}    success
  ${EXIT.FAILURE}    unexpected failure (a bug: please report the printed trace)
  ${EXIT.USAGE}    bad command line or setting value
  ${EXIT.SYNC_OFF}    sync is off on this device (nothing was contacted)
  ${EXIT.SIGNED_OUT}    not signed in, or signed out (device removed or token invalid): run hone-sync login
  ${EXIT.UNREACHABLE}    the auth service or the relay could not be reached, or is unavailable
  ${EXIT.REFUSED}    refused: tier limit, not found, forbidden, rate limited, sign-in link expired/used
  ${EXIT.TIMEOUT}    timed out (sign-in link not opened in time, message not acknowledged)
  ${EXIT.INTERRUPTED}  interrupted (Ctrl-C) while waiting for the sign-in link`;
