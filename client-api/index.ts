/**
 * The Client-Server API (/_matrix/client/*): one module per spec module,
 * each registering its routes on one router over the shared engine.
 */
import Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { registerAccount } from "./account.js";
import { registerAccountData } from "./account-data.js";
import { registerSharedSecretRegistration } from "./admin/register.js";
import { registerRegistrationTokenAdmin } from "./admin/registration-tokens.js";
import { registerRooms } from "./rooms.js";
import { registerSync } from "./sync.js";
import { registerDirectory } from "./directory.js";
import { registerKeyBackup } from "./key-backup.js";
import { registerPresence } from "./presence.js";
import { registerProfile } from "./profile.js";
import { registerPushRules } from "./push-rules.js";
import { registerPushers } from "./pushers.js";
import { registerNotifications } from "./notifications.js";
import { registerReceipts } from "./receipts.js";
import { registerRelations } from "./relations.js";
import { registerThreads } from "./threads.js";
import { registerServerInfo } from "./server-info.js";
import { registerSearch } from "./search.js";
import { registerUserDirectory } from "./user-directory.js";
import { registerHierarchy } from "./hierarchy.js";
import { registerReports } from "./report.js";
import { registerEventReportAdmin } from "./admin/event-reports.js";
import { registerDevices } from "./devices.js";
import { registerKeys } from "./keys.js";
import { registerMedia } from "./media.js";
import { registerToDevice } from "./to-device.js";
import { registerDehydratedDevice } from "./dehydrated-device.js";
import { InteractiveAuth } from "./uia.js";

export function createClientApi(hs: ServerContext): Router {
  const router = new Router();
  // One set of user-interactive auth sessions for every endpoint that asks for one.
  const uia = new InteractiveAuth();
  registerServerInfo(router, hs);
  registerProfile(router, hs);
  registerAccountData(router, hs);
  registerReceipts(router, hs);
  registerDirectory(router, hs);
  registerPresence(router, hs);
  registerKeyBackup(router, hs);
  registerPushRules(router, hs);
  registerPushers(router, hs);
  registerNotifications(router, hs);
  registerSharedSecretRegistration(router, hs);
  registerRegistrationTokenAdmin(router, hs);
  registerAccount(router, hs, uia);
  registerDevices(router, hs, uia);
  registerKeys(router, hs, uia);
  registerToDevice(router, hs);
  registerDehydratedDevice(router, hs);
  registerRooms(router, hs);
  registerSync(router, hs);
  registerSearch(router, hs);
  registerRelations(router, hs);
  registerThreads(router, hs);
  registerUserDirectory(router, hs);
  registerHierarchy(router, hs);
  registerReports(router, hs);
  registerEventReportAdmin(router, hs);
  registerMedia(router, hs);
  return router;
}
