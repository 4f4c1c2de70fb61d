import { DataValue, EndpointDescription, MessageSecurityMode, SecurityPolicy, StatusCodes, UserTokenType, Variant, DataType } from 'node-opcua';
import { describe, expect, it } from 'vitest';
import type { TagDef } from '../../config/plant.schema.ts';
import { monitoringOf } from '../../src/edge/opcua-monitor.ts';
import { pickEndpoint, resolveSecurity } from '../../src/edge/opcua-security.ts';
import { qualityOf, toSample } from '../../src/edge/opcua-status.ts';

const tag = (over: Partial<TagDef> = {}): TagDef =>
  ({ tag: 'R101.TT01.PV', unit: 'R101', source: 'sim', node: 'ns=1;s=R101.TT01.PV', engUnit: '°C', dataType: 'number', counter: false, collect: true, description: '', ...over }) as TagDef;

describe('OPC UA status code → quality (IEC 62541-4 §7.39 severity bits)', () => {
  it.each([
    ['Good', StatusCodes.Good, 'good'],
    ['GoodClamped', StatusCodes.GoodClamped, 'good'],
    ['GoodLocalOverride', StatusCodes.GoodLocalOverride, 'good'],
    ['Uncertain', StatusCodes.Uncertain, 'uncertain'],
    ['UncertainLastUsableValue', StatusCodes.UncertainLastUsableValue, 'uncertain'],
    ['UncertainSensorNotAccurate', StatusCodes.UncertainSensorNotAccurate, 'uncertain'],
    ['Bad', StatusCodes.Bad, 'bad'],
    ['BadSensorFailure', StatusCodes.BadSensorFailure, 'bad'],
    ['BadCommunicationError', StatusCodes.BadCommunicationError, 'bad'],
    ['BadNodeIdUnknown', StatusCodes.BadNodeIdUnknown, 'bad'],
  ])('maps %s to %s', (_name, code, q) => {
    expect(qualityOf(code.value)).toBe(q);
  });

  it('treats the reserved severity 11 as bad', () => {
    expect(qualityOf(0xc0000000)).toBe('bad');
  });

  it('keeps the source timestamp, not the server timestamp', () => {
    const dv = new DataValue({
      value: new Variant({ dataType: DataType.Double, value: 42.5 }),
      statusCode: StatusCodes.UncertainLastUsableValue,
      sourceTimestamp: new Date(1_000),
      serverTimestamp: new Date(9_000),
    });
    expect(toSample(tag(), dv, new Map()).sample).toEqual({ tag: 'R101.TT01.PV', v: 42.5, q: 'uncertain', ts: 1_000 });
  });

  it('repeats the last good value flagged bad when a bad value carries none, never dropping the sample', () => {
    const last = new Map<string, number | boolean | string>();
    toSample(tag(), new DataValue({ value: new Variant({ dataType: DataType.Double, value: 7 }), sourceTimestamp: new Date(1) }), last);
    const out = toSample(tag(), new DataValue({ statusCode: StatusCodes.BadSensorFailure, sourceTimestamp: new Date(2) }), last);
    expect(out.sample).toEqual({ tag: 'R101.TT01.PV', v: 7, q: 'bad', ts: 2 });
    expect(out.unsupported).toBe(false);
  });

  it('flags a good value of an unsupported type bad and says so', () => {
    const dv = new DataValue({ value: new Variant({ dataType: DataType.ByteString, value: Buffer.from('x') }), sourceTimestamp: new Date(3) });
    const out = toSample(tag(), dv, new Map());
    expect(out.sample.q).toBe('bad');
    expect(out.unsupported).toBe(true);
  });
});

describe('endpoint selection (IEC 62541-4 §5.4.4) and monitoring parameters', () => {
  const ep = (policy: SecurityPolicy, mode: MessageSecurityMode, tokens: UserTokenType[]) =>
    new EndpointDescription({ securityPolicyUri: policy, securityMode: mode, userIdentityTokens: tokens.map((tokenType) => ({ tokenType, policyId: String(tokenType) })) });
  const security = resolveSecurity({ identity: { type: 'username', username: 'u', passwordFile: 'f' } });

  it('defaults an opcua source to Basic256Sha256 with SignAndEncrypt', () => {
    expect(resolveSecurity({})).toMatchObject({ policy: 'Basic256Sha256', mode: 'SignAndEncrypt', identity: { type: 'anonymous' } });
  });

  it('picks the endpoint with the configured policy, mode and identity token', () => {
    const good = ep(SecurityPolicy.Basic256Sha256, MessageSecurityMode.SignAndEncrypt, [UserTokenType.UserName]);
    const chosen = pickEndpoint([ep(SecurityPolicy.None, MessageSecurityMode.None, [UserTokenType.Anonymous]), good], security);
    expect(chosen).toBe(good);
  });

  it('refuses a server that offers only weaker security, never downgrading', () => {
    const weaker = [
      ep(SecurityPolicy.None, MessageSecurityMode.None, [UserTokenType.UserName]),
      ep(SecurityPolicy.Basic256Sha256, MessageSecurityMode.Sign, [UserTokenType.UserName]),
    ];
    expect(pickEndpoint(weaker, security)).toEqual({ refused: expect.stringMatching(/no endpoint with Basic256Sha256\/SignAndEncrypt \(offered: None\/None, Basic256Sha256\/Sign\)/) });
  });

  it('refuses an endpoint that does not accept the configured identity', () => {
    const anonOnly = [ep(SecurityPolicy.Basic256Sha256, MessageSecurityMode.SignAndEncrypt, [UserTokenType.Anonymous])];
    expect(pickEndpoint(anonOnly, security)).toEqual({ refused: expect.stringMatching(/accepts username identity/) });
  });

  it('takes sampling interval and deadband per tag from the tag dictionary (deadband on numbers only)', () => {
    const m = monitoringOf(tag({ samplingIntervalMs: 1000, deadband: { type: 'absolute', value: 0.5 } }), 250);
    expect(m.samplingInterval).toBe(1000);
    expect(m.filter).toMatchObject({ deadbandType: 1, deadbandValue: 0.5 });
    expect(monitoringOf(tag({ dataType: 'boolean', deadband: { type: 'percent', value: 1 } }), 250).filter).toBeUndefined();
    expect(monitoringOf(tag(), 500).samplingInterval).toBe(250);
  });
});
