// An independent CSMS for interop tests: Node.js on the npm package `ocpp-rpc` in strict
// mode, which checks every CALL and CALLRESULT in both directions against the official
// OCPP JSON schemas it ships (ocpp2.0.1 and ocpp2.1). Nothing here comes from the Python
// `ocpp` package.
//
//   node ocpp_csms.js --port 0 --protocol ocpp2.0.1|ocpp2.1 [--log FILE] [--mode outage]
//
// --log FILE: every frame received is appended to FILE as one JSON line ({"t", "station",
// "frame"}) and fsynced before the library handles it, so before it is answered: a test
// that SIGKILLs this process knows every frame it acknowledged. --mode outage: only answer
// (no smart-charging scenario, no Reset), for the outage test and benchmark.
// --mode actions: after the boot, the station actions in turn: SendLocalList,
// GetLocalListVersion, ClearCache, DataTransfer (unknown vendor), ChangeAvailability
// (EVSE 2 off and on), UnlockConnector, TriggerMessage (StatusNotification, Heartbeat,
// MeterValues), GetBaseReport FullInventory, GetReport (EVSE AvailabilityState),
// SetVariableMonitoring (HeartbeatInterval above 1: the station reports it at once in a
// NotifyEvent), ClearVariableMonitoring, with --root-cert PEM: InstallCertificate (V2G root), GetInstalledCertificateIds,
// TriggerMessage SignChargingStationCertificate (the station's SignCertificate is Accepted),
// DeleteCertificate; then RequestStartTransaction on EVSE 1; on its Started,
// RequestStopTransaction; on Ended, Reset Immediate, then {"done": true}.
//
// Prints one JSON object per line on stdout: {"listening": port} first, then every CALL
// the station sends ({"in": action, "params": ...}), every answer to ours ({"result":
// action, ...}), and every problem ({"failure": ...}: a schema violation either way, a
// CALLERROR from the station, an unexpected action). The scenario, driven by what the
// station does:
//   TransactionEvent Started -> SetChargingProfile (a daily station-wide TxDefaultProfile
//   in A), GetCompositeSchedule, SetChargingProfile (a TxProfile for that transaction; on
//   2.1 a V2X CentralSetpoint with discharge), GetCompositeSchedule, GetChargingProfiles,
//   ClearChargingProfile (the default);
//   TransactionEvent Ended -> Reset OnIdle, then {"done": true}.
// With --scenario der (2.1): after the boot, DER controls (host/ocpp/der.py): two defaults
// the station takes, one outside the firmware's ranges, one it does not support,
// GetDERControl (-> ReportDERControl), ClearDERControl, then {"derDone": true}. With
// --exi-response FILE, Get15118EVCertificate is answered with the base64 V2G response in FILE.
'use strict';

const fs = require('fs');
const { RPCServer, createRPCError, createValidator } = require('ocpp-rpc');

// ajv notes, per schema it compiles, that the OCA schemas put additionalProperties on enum
// types ("strict mode: missing type ..."): style remarks about the schemas, not validation
// results; everything else still reaches stderr.
const warn = console.warn;
console.warn = (...args) => {
    if (!String(args[0]).startsWith('strict mode:')) warn(...args);
};

function arg(name, fallback) {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
}

const port = Number(arg('--port', '0'));
const protocol = arg('--protocol', 'ocpp2.0.1');
const heartbeat = Number(arg('--heartbeat', '2'));
const derScenario = arg('--scenario', '') === 'der';
const exiFile = arg('--exi-response', '');
const logPath = arg('--log', null);
const mode = arg('--mode', 'scenario');
const scenario = mode === 'scenario';
const TOKEN = { idToken: '04A2B3C4D5E6F7', type: 'ISO14443' };
const rootCert = arg('--root-cert', null);
const logFd = logPath ? fs.openSync(logPath, 'a') : null;

// the client emits 'message' synchronously before it parses and dispatches the frame
function record(identity, message) {
    if (logFd === null) return;
    fs.writeSync(logFd, JSON.stringify({ t: Date.now() / 1000, station: identity,
                                         frame: message }) + '\n');
    fs.fsyncSync(logFd);
}

function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function now() {
    return new Date().toISOString();
}

// a station-wide default the TxProfile overrides: 10 A on 3 phases, daily from midnight
function dailyDefault() {
    const midnight = new Date();
    midnight.setUTCHours(0, 0, 0, 0);
    return {
        id: 41, stackLevel: 3, chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Recurring', recurrencyKind: 'Daily',
        chargingSchedule: [{ id: 41, chargingRateUnit: 'A', startSchedule: midnight.toISOString(),
                             chargingSchedulePeriod: [{ startPeriod: 0, limit: 10.0 }] }],
    };
}

function txProfile(txId) {
    const period = { startPeriod: 0, limit: 7400.0, numberPhases: 3 };
    if (protocol === 'ocpp2.1') {
        Object.assign(period, { operationMode: 'CentralSetpoint', setpoint: -3000.0,
                                dischargeLimit: -5000.0 });
    }
    return {
        id: 42, stackLevel: 1, chargingProfilePurpose: 'TxProfile',
        chargingProfileKind: 'Relative', transactionId: txId,
        chargingSchedule: [{ id: 42, chargingRateUnit: 'W', duration: 3600,
                             chargingSchedulePeriod: [period] }],
    };
}

// ocpp-rpc 2.2.1 looks schemas up as `urn:<Action>.req` / `.conf`, but the 2.1 schemas it
// ships are named `urn:<Action>Request` / `Response` (as the OCA files are), so in strict
// mode every 2.1 call fails with "Schema ... is missing" (mikuso/ocpp-rpc PR #94, not in a
// release). We hand it the same bundled 2.1 schemas under the names it looks for: only the
// $id changes, the schemas and the validator are the library's.
function legacyIds(schemas) {
    return schemas.map((s) => {
        let id = s.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf');
        if (!id.includes('.')) id += '.req'; // NotifyPeriodicEventStream: a SEND, no response
        return Object.assign({}, s, { $id: id });
    });
}

const validators = [
    createValidator('ocpp2.1', legacyIds(require('ocpp-rpc/lib/schemas/ocpp2_1.json'))),
];
const server = new RPCServer({ protocols: [protocol], strictMode: true,
                               strictModeValidators: validators });

server.on('client', (client) => {
    out({ connected: client.identity, protocol: client.protocol });
    client.on('message', ({ message, outbound }) => {
        if (!outbound) record(client.identity, String(message));
    });
    client.on('strictValidationFailure', (e) => {
        out({ failure: 'schema', method: e.method, outbound: e.outbound, isCall: e.isCall,
              error: String(e.error && e.error.message) });
    });
    client.on('close', () => out({ closed: client.identity }));

    async function ask(method, params) {
        try {
            const result = await client.call(method, params);
            out({ result: method, params: result });
            return result;
        } catch (e) {
            out({ failure: 'call', method, error: `${e.rpcErrorCode || e.name}: ${e.message}` });
            return null;
        }
    }

    function seen(method, params) {
        out({ in: method, params });
    }

    async function actions() {
        await ask('SendLocalList', { versionNumber: 1, updateType: 'Full', localAuthorizationList: [
            { idToken: TOKEN, idTokenInfo: { status: 'Accepted' } }] });
        await ask('GetLocalListVersion', {});
        await ask('ClearCache', {});
        await ask('DataTransfer', { vendorId: 'com.example.unknown', messageId: 'm' });
        await ask('ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 2 } });
        await ask('ChangeAvailability', { operationalStatus: 'Operative', evse: { id: 2 } });
        await ask('UnlockConnector', { evseId: 2, connectorId: 1 });
        await ask('TriggerMessage', { requestedMessage: 'StatusNotification',
                                      evse: { id: 1, connectorId: 1 } });
        await ask('TriggerMessage', { requestedMessage: 'Heartbeat' });
        await ask('TriggerMessage', { requestedMessage: 'MeterValues', evse: { id: 1 } });
        await ask('GetBaseReport', { requestId: 31, reportBase: 'FullInventory' });
        await ask('GetReport', { requestId: 32, componentVariable: [
            { component: { name: 'EVSE' }, variable: { name: 'AvailabilityState' } }] });
        const mon = await ask('SetVariableMonitoring', { setMonitoringData: [
            { value: 1, type: 'UpperThreshold', severity: 5, component: { name: 'OCPPCommCtrlr' },
              variable: { name: 'HeartbeatInterval' } }] });
        if (mon && mon.setMonitoringResult[0].id !== undefined) {
            await ask('ClearVariableMonitoring', { id: [mon.setMonitoringResult[0].id] });
        }
        if (rootCert) {
            await ask('InstallCertificate', { certificateType: 'V2GRootCertificate',
                                              certificate: fs.readFileSync(rootCert, 'utf8') });
            const ids = await ask('GetInstalledCertificateIds',
                                  { certificateType: ['V2GRootCertificate'] });
            await ask('TriggerMessage', { requestedMessage: 'SignChargingStationCertificate' });
            if (ids && ids.certificateHashDataChain) {
                await ask('DeleteCertificate', {
                    certificateHashData: ids.certificateHashDataChain[0].certificateHashData });
            }
        }
        await ask('RequestStartTransaction', { remoteStartId: 5, idToken: TOKEN, evseId: 1 });
    }

    client.handle('BootNotification', ({ params }) => {
        seen('BootNotification', params);
        if (derScenario) setImmediate(derScript);
        if (mode === 'actions') setImmediate(actions);
        return { status: 'Accepted', currentTime: now(), interval: heartbeat };
    });
    client.handle('Heartbeat', ({ params }) => {
        seen('Heartbeat', params);
        return { currentTime: now() };
    });
    client.handle('StatusNotification', ({ params }) => {
        seen('StatusNotification', params);
        return {};
    });
    client.handle('Authorize', ({ params }) => {
        seen('Authorize', params);
        return { idTokenInfo: { status: 'Accepted' } };
    });
    client.handle('MeterValues', ({ params }) => {
        seen('MeterValues', params);
        return {};
    });
    client.handle('SecurityEventNotification', ({ params }) => {
        seen('SecurityEventNotification', params);
        return {};
    });
    client.handle('SignCertificate', ({ params }) => {
        seen('SignCertificate', params);
        return { status: 'Accepted' };
    });
    client.handle('ReportChargingProfiles', ({ params }) => {
        seen('ReportChargingProfiles', params);
        return {};
    });
    client.handle('TransactionEvent', ({ params }) => {
        seen('TransactionEvent', params);
        const txId = params.transactionInfo.transactionId;
        if (mode === 'actions') {
            if (params.eventType === 'Started') {
                setImmediate(() => ask('RequestStopTransaction', { transactionId: txId }));
            } else if (params.eventType === 'Ended') {
                setImmediate(async () => {
                    await ask('Reset', { type: 'Immediate' });
                    out({ done: true });
                });
            }
        }
        if (!scenario) return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
        // after our answer has gone out: the station's own CALL is settled first
        if (params.eventType === 'Started') {
            setImmediate(async () => {
                await ask('SetChargingProfile', { evseId: 0, chargingProfile: dailyDefault() });
                await ask('GetCompositeSchedule', { duration: 600, evseId: params.evse.id,
                                                    chargingRateUnit: 'A' });
                await ask('SetChargingProfile', { evseId: params.evse.id,
                                                  chargingProfile: txProfile(txId) });
                await ask('GetCompositeSchedule', { duration: 600, evseId: params.evse.id,
                                                    chargingRateUnit: 'W' });
                await ask('GetChargingProfiles', { requestId: 7, chargingProfile: {} });
                await ask('ClearChargingProfile', { chargingProfileId: 41 });
                out({ profiled: txId });
            });
        } else if (params.eventType === 'Ended') {
            setImmediate(async () => {
                await ask('Reset', { type: 'OnIdle' });
                out({ done: true });
            });
        }
        return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
    });
    async function derScript() {
        const droop = { priority: 1, overFreq: 50.1, underFreq: 49.9, overDroop: 0.04,
                        underDroop: 0.04, responseTime: 2.0 };
        const hv = { priority: 1, yUnit: 'Not_Applicable',
                     curveData: [{ x: 0.2, y: 118.0 }, { x: 1.5, y: 111.0 }] };
        await ask('SetDERControl', { isDefault: true, controlId: 'droop-1',
                                     controlType: 'FreqDroop', freqDroop: droop });
        await ask('SetDERControl', { isDefault: true, controlId: 'hv-1', controlType: 'HVMustTrip',
                                     curve: hv });
        await ask('SetDERControl', { isDefault: true, controlId: 'droop-2', controlType: 'FreqDroop',
                                     freqDroop: Object.assign({}, droop, { overDroop: 0.5 }) });
        await ask('SetDERControl', { isDefault: true, controlId: 'vv-1', controlType: 'VoltVar',
                                     curve: { priority: 1, yUnit: 'PctMaxVar',
                                              curveData: [{ x: 100.0, y: 0.0 }] } });
        await ask('GetDERControl', { requestId: 11 });
        await ask('ClearDERControl', { isDefault: true, controlType: 'FreqDroop' });
        out({ derDone: true });
    }
    for (const m of ['ReportDERControl', 'NotifyDERAlarm', 'NotifyDERStartStop', 'NotifyReport',
                     'NotifyEvent']) {
        client.handle(m, ({ params }) => {
            seen(m, params);
            return {};
        });
    }
    client.handle('Get15118EVCertificate', ({ params }) => {
        seen('Get15118EVCertificate', params);
        const exi = exiFile ? fs.readFileSync(exiFile, 'utf8').trim() : '';
        return exi ? { status: 'Accepted', exiResponse: exi } : { status: 'Failed', exiResponse: '' };
    });
    client.handle(({ method, params }) => {
        out({ failure: 'unexpected', method, params });
        throw createRPCError('NotImplemented');
    });
});

server.listen(port, '127.0.0.1').then((http) => {
    out({ listening: http.address().port, protocol });
});

process.on('SIGTERM', () => process.exit(0));
