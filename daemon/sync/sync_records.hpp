#pragma once
// Between the engine's template changes and the wire's records: the same
// fields, named by identity on both sides (sync/sync_record.hpp).
#include "engine/engine.hpp"
#include "sync/sync_record.hpp"

namespace sipvsd {

sipvs::sync::SyncRecord to_record(const sipvs::TemplateChangeInfo& change);
sipvs::TemplateChangeInfo to_change(const sipvs::sync::SyncRecord& record);

}  // namespace sipvsd
