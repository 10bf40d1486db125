#include "daemon/sync/sync_records.hpp"

namespace sipvsd {

using sipvs::sync::RecordOp;
using sipvs::sync::SyncRecord;

SyncRecord to_record(const sipvs::TemplateChangeInfo& change) {
  const sipvs::TemplateInfo& i = change.info;
  SyncRecord r;
  r.op = change.erased ? RecordOp::erase : RecordOp::set;
  r.learned = i.learned;
  r.protocol = i.protocol;
  r.vip = i.vip;
  r.vport = i.vport;
  r.fwmark = i.fwmark;
  r.client = i.client;
  r.client_port = i.client_port;
  r.server = i.server;
  r.server_port = i.server_port;
  r.timeout = change.erased ? 0 : i.expires_in;
  r.pe_name = i.pe_name;
  r.pe_data = i.pe_data;
  return r;
}

sipvs::TemplateChangeInfo to_change(const SyncRecord& r) {
  sipvs::TemplateChangeInfo c;
  c.erased = r.op == RecordOp::erase;
  sipvs::TemplateInfo& i = c.info;
  i.learned = r.learned;
  i.protocol = r.protocol;
  i.vip = r.vip;
  i.vport = r.vport;
  i.fwmark = r.fwmark;
  i.client = r.client;
  i.client_port = r.client_port;
  i.server = r.server;
  i.server_port = r.server_port;
  i.expires_in = r.timeout;
  i.pe_name = r.pe_name;
  i.pe_data = r.pe_data;
  return c;
}

}  // namespace sipvsd
