#include "schema_verifier.h"

#include <flatbuffers/flatbuffers.h>
#include <flatbuffers/reflection_generated.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace flatstream {

namespace {

using flatbuffers::ReadScalar;

// A schema's (short) name: the part after the last '.'.
std::string short_name(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

uint32_t scalar_size(reflection::BaseType t) noexcept {
  switch (t) {
    case reflection::UType:
    case reflection::Bool:
    case reflection::Byte:
    case reflection::UByte:
      return 1;
    case reflection::Short:
    case reflection::UShort:
      return 2;
    case reflection::Int:
    case reflection::UInt:
    case reflection::Float:
      return 4;
    case reflection::Long:
    case reflection::ULong:
    case reflection::Double:
      return 8;
    default:
      return 0;  // not a scalar
  }
}

}  // namespace

// Turns a verified .bfbs into the plan: the tables reachable from the root
// (through fields, union members and nested_flatbuffer roots), each with its
// fields in id order. A table is planned once however often it is reached.
class SchemaPlanner {
 public:
  // `bfbs_len` sets the budget of plan_nested's name resolution.
  SchemaPlanner(SchemaValidator& out, const reflection::Schema& schema, size_t bfbs_len)
      : out_(out),
        schema_(schema),
        objects_(*schema.objects()),
        resolve_budget_(16 * uint64_t(bfbs_len) + 65536) {
    out_.tables_.resize(objects_.size());
    planned_.assign(objects_.size(), false);
    union_of_enum_.assign(schema.enums() ? schema.enums()->size() : 0, SchemaValidator::kNone);
  }

  // Plans every table reachable from `root`; false and error_ set on a
  // schema that is inconsistent or uses what a table cannot hold.
  bool plan(uint32_t root) {
    queue_.push_back(root);
    planned_[root] = true;
    for (size_t i = 0; i < queue_.size(); ++i) {
      if (!plan_table(queue_[i])) return false;
    }
    return true;
  }

  std::string error_;

 private:
  using Kind = SchemaValidator::Kind;
  using Field = SchemaValidator::Field;
  using MemberKind = SchemaValidator::MemberKind;

  bool fail(const reflection::Object& o, const reflection::Field* f, const char* why) {
    error_ = short_name(str(o.name()));
    if (f) error_ += "." + str(f->name());
    error_ += ": ";
    error_ += why;
    return false;
  }

  bool is_table(int32_t index) const {
    return index >= 0 && uint32_t(index) < objects_.size() && !objects_.Get(index)->is_struct();
  }
  bool is_struct(int32_t index) const {
    return index >= 0 && uint32_t(index) < objects_.size() && objects_.Get(index)->is_struct();
  }
  // A struct's size and alignment, sane enough for the Verifier's arithmetic.
  static bool struct_layout(const reflection::Object& s, uint32_t* size, uint32_t* align) {
    const int32_t n = s.bytesize(), a = s.minalign();
    if (n <= 0 || size_t(n) > kMaxVerifiableSize || a <= 0 || a > 4096 || (a & (a - 1))) {
      return false;
    }
    *size = uint32_t(n);
    *align = uint32_t(a);
    return true;
  }

  void reach(uint32_t table) {
    if (planned_[table]) return;
    planned_[table] = true;
    queue_.push_back(table);
  }

  bool plan_table(uint32_t index) {
    const reflection::Object& o = *objects_.Get(index);
    std::vector<const reflection::Field*> fields;
    for (const reflection::Field* f : *o.fields()) {
      if (!f->deprecated()) fields.push_back(f);
    }
    std::sort(
        fields.begin(), fields.end(),
        [](const reflection::Field* a, const reflection::Field* b) { return a->id() < b->id(); });
    SchemaValidator::Table& t = out_.tables_[index];
    t.name = short_name(str(o.name()));
    t.first = uint32_t(out_.fields_.size());
    for (const reflection::Field* f : fields) {
      Field p;
      if (!plan_field(o, *f, fields, &p)) return false;
      out_.fields_.push_back(std::move(p));
    }
    t.count = uint32_t(out_.fields_.size()) - t.first;
    return true;
  }

  bool plan_field(const reflection::Object& o, const reflection::Field& f,
                  const std::vector<const reflection::Field*>& siblings, Field* p) {
    const reflection::Type& type = *f.type();
    p->name = str(f.name());
    p->slot = f.offset();
    p->required = f.required();
    if (p->slot < 4 || (p->slot & 1)) return fail(o, &f, "invalid vtable offset");
    const reflection::BaseType bt = type.base_type();
    if (const uint32_t n = scalar_size(bt)) {
      p->kind = Kind::kScalar;
      p->size = p->align = n;
      return true;
    }
    switch (bt) {
      case reflection::String:
        p->kind = Kind::kString;
        return true;
      case reflection::Obj:
        if (is_struct(type.index())) {
          p->kind = Kind::kStruct;
          if (!struct_layout(*objects_.Get(type.index()), &p->size, &p->align)) {
            return fail(o, &f, "struct with an invalid size or alignment");
          }
          return true;
        }
        if (!is_table(type.index())) return fail(o, &f, "type index out of range");
        p->kind = Kind::kTable;
        p->target = uint32_t(type.index());
        reach(p->target);
        return true;
      case reflection::Union:
        p->kind = Kind::kUnion;
        return plan_union(o, f, siblings, p, false);
      case reflection::Vector:
        return plan_vector(o, f, siblings, p);
      default:
        return fail(o, &f, "unsupported field type");
    }
  }

  bool plan_vector(const reflection::Object& o, const reflection::Field& f,
                   const std::vector<const reflection::Field*>& siblings, Field* p) {
    const reflection::Type& type = *f.type();
    const reflection::BaseType et = type.element();
    if (const uint32_t n = scalar_size(et)) {
      p->kind = Kind::kVector;
      p->size = n;
      return plan_nested(o, f, p, et == reflection::UByte);
    }
    switch (et) {
      case reflection::String:
        p->kind = Kind::kStringVector;
        p->size = 4;
        break;
      case reflection::Obj:
        if (is_struct(type.index())) {
          p->kind = Kind::kVector;
          uint32_t align;
          if (!struct_layout(*objects_.Get(type.index()), &p->size, &align)) {
            return fail(o, &f, "struct with an invalid size or alignment");
          }
          break;
        }
        if (!is_table(type.index())) return fail(o, &f, "type index out of range");
        p->kind = Kind::kTableVector;
        p->size = 4;
        p->target = uint32_t(type.index());
        reach(p->target);
        break;
      case reflection::Union:
        p->kind = Kind::kUnionVector;
        p->size = 4;
        if (!plan_union(o, f, siblings, p, true)) return false;
        break;
      default:
        return fail(o, &f, "unsupported vector element type");
    }
    return plan_nested(o, f, p, false);
  }

  // A union's value field needs its type field (the `_type` flatc adds) in
  // the slot before: generated code reads the type from there.
  bool plan_union(const reflection::Object& o, const reflection::Field& f,
                  const std::vector<const reflection::Field*>& siblings, Field* p, bool vector) {
    const int32_t e = f.type()->index();
    if (e < 0 || uint32_t(e) >= union_of_enum_.size() || !schema_.enums()->Get(e)->is_union()) {
      return fail(o, &f, "union type index out of range");
    }
    const bool has_type = std::any_of(siblings.begin(), siblings.end(), [&](auto s) {
      const reflection::Type& t = *s->type();
      return s->offset() + 2 == p->slot && t.index() == e &&
             (vector ? t.base_type() == reflection::Vector && t.element() == reflection::UType
                     : t.base_type() == reflection::UType);
    });
    if (!has_type) return fail(o, &f, "union without its type field in the slot before");
    if (union_of_enum_[e] == SchemaValidator::kNone) {
      union_of_enum_[e] = uint32_t(out_.unions_.size());
      out_.unions_.emplace_back();
      if (!plan_members(o, f, *schema_.enums()->Get(e), &out_.unions_.back())) return false;
    }
    p->target = union_of_enum_[e];
    return true;
  }

  bool plan_members(const reflection::Object& o, const reflection::Field& f,
                    const reflection::Enum& e, SchemaValidator::Union* u) {
    if (!e.values()) return fail(o, &f, "union without members");
    for (const reflection::EnumVal* v : *e.values()) {
      if (v->value() < 0 || v->value() > 255) return fail(o, &f, "union member out of range");
      if (v->value() == 0) continue;  // NONE
      SchemaValidator::Member& m = u->members[size_t(v->value())];
      const reflection::Type* t = v->union_type();
      const reflection::BaseType bt = t ? t->base_type() : reflection::None;
      if (bt == reflection::String) {
        m.kind = MemberKind::kString;
      } else if (bt == reflection::Obj && is_table(t->index())) {
        m.kind = MemberKind::kTable;
        m.table = uint32_t(t->index());
        reach(m.table);
      } else if (bt == reflection::Obj && is_struct(t->index())) {
        m.kind = MemberKind::kStruct;
        if (!struct_layout(*objects_.Get(t->index()), &m.size, &m.align)) {
          return fail(o, &f, "union struct with an invalid size or alignment");
        }
      } else {
        return fail(o, &f, "unsupported union member");
      }
    }
    return true;
  }

  // nested_flatbuffer: "Name", resolved like flatc does, from the innermost
  // namespace of the table that declares the field outwards.
  bool plan_nested(const reflection::Object& o, const reflection::Field& f, Field* p,
                   bool ubyte_vector) {
    if (!f.attributes()) return true;
    for (const reflection::KeyValue* kv : *f.attributes()) {
      if (str(kv->key()) != "nested_flatbuffer") continue;
      if (!ubyte_vector) return fail(o, &f, "nested_flatbuffer on a field that is not [ubyte]");
      const std::string name = str(kv->value());
      if (tables_by_name_.empty()) {
        // Built once, first table of a name wins (as a scan would find it):
        // each lookup below is then O(name), not O(tables x name).
        for (uint32_t i = 0; i < objects_.size(); ++i)
          if (!objects_.Get(i)->is_struct())
            tables_by_name_.emplace(str(objects_.Get(i)->name()), i);
      }
      std::string scope = str(o.name());
      for (;;) {
        const size_t dot = scope.rfind('.');
        scope.resize(dot == std::string::npos ? 0 : dot);
        const std::string full = scope.empty() ? name : scope + "." + name;
        // Every candidate costs its length: a hostile schema (long dotted
        // names, many attributes) stops at a budget linear in its size
        // (docs/design.md, "Recovery").
        if (full.size() + 1 > resolve_budget_)
          return fail(o, &f, "nested_flatbuffer names cost too much to resolve");
        resolve_budget_ -= full.size() + 1;
        const auto it = tables_by_name_.find(full);
        if (it != tables_by_name_.end()) {
          p->nested = it->second;
          reach(it->second);
          return true;
        }
        if (scope.empty()) return fail(o, &f, "nested_flatbuffer names no table of the schema");
      }
    }
    return true;
  }

  SchemaValidator& out_;
  const reflection::Schema& schema_;
  const flatbuffers::Vector<flatbuffers::Offset<reflection::Object>>& objects_;
  std::vector<bool> planned_;
  std::vector<uint32_t> queue_;
  std::vector<uint32_t> union_of_enum_;
  std::unordered_map<std::string, uint32_t> tables_by_name_;
  uint64_t resolve_budget_;
};

std::unique_ptr<SchemaValidator> SchemaValidator::create(const uint8_t* bfbs, size_t len,
                                                         const std::string& root_type,
                                                         const VerifierOptions& options,
                                                         std::string* error) {
  std::string ignored;
  std::string& err = error ? *error : ignored;
  err.clear();
  if (!bfbs || len < kMinVerifiableSize || len > kMaxVerifiableSize) {
    err = "not a binary schema (.bfbs): bad size";
    return nullptr;
  }
  // A copy, so that reads are aligned wherever the caller's bytes lie.
  const std::vector<uint8_t> copy(bfbs, bfbs + len);
  flatbuffers::Verifier v(copy.data(), copy.size());
  if (!reflection::VerifySchemaBuffer(v)) {
    err = "not a binary schema (.bfbs): verification failed";
    return nullptr;
  }
  const reflection::Schema& schema = *reflection::GetSchema(copy.data());
  const auto& objects = *schema.objects();

  // The root: by full name, else by short name when unique, else the schema's.
  uint32_t root = kNone;
  if (!root_type.empty()) {
    for (uint32_t i = 0; i < objects.size() && root == kNone; ++i) {
      if (str(objects.Get(i)->name()) == root_type) root = i;
    }
    if (root == kNone) {
      for (uint32_t i = 0; i < objects.size(); ++i) {
        if (short_name(str(objects.Get(i)->name())) != root_type) continue;
        if (root != kNone) {
          err = "root type '" + root_type + "' is ambiguous; qualify it with its namespace";
          return nullptr;
        }
        root = i;
      }
    }
    if (root == kNone) {
      err = "root type '" + root_type + "' is not in the schema";
      return nullptr;
    }
  }
  uint32_t schema_root = kNone;
  if (const reflection::Object* r = schema.root_table()) {
    for (uint32_t i = 0; i < objects.size(); ++i) {
      if (objects.Get(i) == r || str(objects.Get(i)->name()) == str(r->name())) {
        schema_root = i;
        break;
      }
    }
  }
  if (root == kNone) root = schema_root;
  if (root == kNone) {
    err = "the schema declares no root_type; name the root type";
    return nullptr;
  }
  if (objects.Get(root)->is_struct()) {
    err = "root type '" + str(objects.Get(root)->name()) + "' is a struct, not a table";
    return nullptr;
  }

  std::unique_ptr<SchemaValidator> out(new SchemaValidator());
  out->options_ = normalize(options);
  out->root_ = root;
  out->root_type_ = str(objects.Get(root)->name());
  // Generated Verify<Root>Buffer checks the identifier the schema declares.
  if (root == schema_root && schema.file_ident()) {
    std::strncpy(out->identifier_, schema.file_ident()->c_str(), 4);
  }
  SchemaPlanner planner(*out, schema, len);
  if (!planner.plan(root)) {
    err = planner.error_;
    return nullptr;
  }
  return out;
}

// One verification: the payload (or a nested flatbuffer inside it) and the
// running counts, over the plan.
class SchemaWalk {
 public:
  struct Counts {
    uint32_t depth = 0;
    uint64_t tables = 0;
    // Tables visited at most: options.max_tables, and no more than the
    // payload has bytes. A table takes at least 4 bytes, so only a DAG of
    // shared tables (each counted per reference) reaches it; without this a
    // 400-byte DAG cost a million visits, 10 ms (docs/design.md, "Recovery").
    uint64_t max_tables = 0;
  };

  SchemaWalk(const SchemaValidator& s, const uint8_t* buf, size_t len, size_t base, Counts& counts,
             VerifyResult& r)
      : s_(s),
        v_(buf, len, verifier_options(s.options_.check_alignment)),
        buf_(buf),
        len_(len),
        base_(base),
        align_(s.options_.check_alignment),
        counts_(counts),
        r_(r) {}

  // The buffer from its root offset, as Verifier::VerifyBuffer does.
  bool root(uint32_t table) {
    if (len_ < kMinVerifiableSize) return fail("buffer too small", nullptr, nullptr, 0);
    const size_t o = v_.VerifyOffset(size_t{0});
    if (!o) {
      return fail(verify_detail::offset_failure(buf_, len_, 0, align_, true), nullptr, nullptr, 0);
    }
    return walk_table(table, o, SchemaValidator::kNone, nullptr);
  }

 private:
  using Field = SchemaValidator::Field;
  using Kind = SchemaValidator::Kind;
  using MemberKind = SchemaValidator::MemberKind;
  static constexpr uint32_t kNone = SchemaValidator::kNone;

  // Depth and table counts are ours (they run on through nested buffers), so
  // the Verifier's own limits are out of the way.
  static flatbuffers::Verifier::Options verifier_options(bool align) noexcept {
    flatbuffers::Verifier::Options o;
    o.max_depth = ~flatbuffers::uoffset_t{0};
    o.max_tables = ~flatbuffers::uoffset_t{0};
    o.check_alignment = align;
    o.check_nested_flatbuffers = false;
    return o;
  }

  // Failure paths are cold: keeping them out of line keeps the walk tight.
  [[gnu::cold, gnu::noinline]] bool fail(const char* reason, const char* table, const char* field,
                                         size_t pos) {
    r_.reason = reason;
    r_.table = table;
    r_.field = field;
    r_.offset = base_ + pos;
    return false;
  }
  [[gnu::cold, gnu::noinline]] bool fail_in(const char* reason, uint32_t table, const Field* f,
                                            size_t pos) {
    return fail(reason, s_.tables_[table].name.c_str(), f ? f->name.c_str() : nullptr, pos);
  }

  // A position computed from an unchecked offset: anything past the end is
  // clamped to the end, where no item fits.
  size_t follow(size_t at) const noexcept {
    const uint64_t p = uint64_t(at) + ReadScalar<uint32_t>(buf_ + at);
    return p < len_ ? size_t(p) : len_;
  }

  // The table at `pos`, reached through `via` of `parent` (or the root).
  bool walk_table(uint32_t t, size_t pos, uint32_t parent, const Field* via) {
    const uint32_t at_table = via ? parent : t;
    if (++counts_.depth > s_.options_.max_depth) {
      return fail_in("depth limit exceeded", at_table, via, pos);
    }
    if (++counts_.tables > counts_.max_tables) {
      return fail_in("table limit exceeded", at_table, via, pos);
    }
    if (pos >= len_ || !v_.VerifyTableStart(buf_ + pos)) {
      const char* why = verify_detail::table_failure(buf_, len_, pos, align_);
      return fail_in(why ? why : "invalid table", at_table, via, pos);
    }
    const size_t vt = pos - static_cast<size_t>(ReadScalar<int32_t>(buf_ + pos));
    const uint16_t vsize = ReadScalar<uint16_t>(buf_ + vt);
    const SchemaValidator::Table& plan = s_.tables_[t];
    const Field* const fields = s_.fields_.data() + plan.first;
    const Field* const end = fields + plan.count;
    for (const Field* f = fields; f != end; ++f) {
      const uint16_t off = f->slot < vsize ? ReadScalar<uint16_t>(buf_ + vt + f->slot) : 0;
      if (!walk_field(t, *f, pos, vt, vsize, off)) return false;
    }
    --counts_.depth;
    return true;
  }

  // The field's value in the slot just before f's (a union's type).
  uint16_t slot_before(const Field& f, size_t vt, uint16_t vsize) const noexcept {
    const size_t slot = f.slot - 2u;
    return slot < vsize ? ReadScalar<uint16_t>(buf_ + vt + slot) : 0;
  }

  bool walk_field(uint32_t t, const Field& f, size_t pos, size_t vt, uint16_t vsize, uint16_t off) {
    if (off == 0) {
      if (f.required) return fail_in("required field missing", t, &f, pos);
      if (f.kind == Kind::kUnion) {
        // Generated code checks the union's value for its type even when the
        // value is absent, which only a struct member fails.
        uint8_t type;
        if (!union_type(t, f, pos, vt, vsize, &type)) return false;
        return walk_member(s_.unions_[f.target].members[type], false, 0, t, f);
      }
      if (f.kind == Kind::kUnionVector && slot_before(f, vt, vsize) != 0) {
        return fail_in("union types without values", t, &f, pos);
      }
      return true;
    }
    const size_t at = pos + off;
    if (f.kind == Kind::kScalar || f.kind == Kind::kStruct) {
      if (v_.VerifyFieldStruct(buf_ + pos, off, f.size, f.align)) return true;
      const bool misaligned = align_ && (at & (f.align - 1)) != 0;
      if (f.kind == Kind::kScalar) {
        return fail_in(misaligned ? "scalar misaligned" : "scalar out of bounds", t, &f, at);
      }
      return fail_in(misaligned ? "struct misaligned" : "struct out of bounds", t, &f, at);
    }
    const size_t o = v_.VerifyOffset(at);
    if (!o) return fail_in(verify_detail::offset_failure(buf_, len_, at, align_, false), t, &f, at);
    const size_t target = at + o;  // inside the buffer: VerifyOffset checked it
    switch (f.kind) {
      case Kind::kString:
        return walk_string(target, t, f);
      case Kind::kTable:
        return walk_table(f.target, target, t, &f);
      case Kind::kUnion: {
        uint8_t type;
        if (!union_type(t, f, pos, vt, vsize, &type)) return false;
        return walk_member(s_.unions_[f.target].members[type], true, target, t, f);
      }
      default:
        return walk_vector(t, f, pos, vt, vsize, target);
    }
  }

  bool walk_string(size_t pos, uint32_t t, const Field& f) {
    if (pos < len_ && v_.VerifyString(reinterpret_cast<const flatbuffers::String*>(buf_ + pos))) {
      return true;
    }
    const char* why = pos < len_ ? verify_detail::string_failure(buf_, len_, pos, align_)
                                 : "string out of bounds";
    return fail_in(why, t, &f, pos);
  }

  bool union_type(uint32_t t, const Field& f, size_t pos, size_t vt, uint16_t vsize,
                  uint8_t* type) {
    const uint16_t off = slot_before(f, vt, vsize);
    *type = 0;
    if (off == 0) return true;
    // The type field is checked as a field of its own too; this guards the read.
    if (!v_.Verify(pos + off, 1)) return fail_in("union type out of bounds", t, &f, pos + off);
    *type = buf_[pos + off];
    return true;
  }

  bool walk_vector(uint32_t t, const Field& f, size_t pos, size_t vt, uint16_t vsize,
                   size_t target) {
    if (!v_.VerifyVectorOrString(buf_ + target, f.size)) {
      return fail_in(verify_detail::vector_failure(buf_, len_, target, f.size, align_, false), t,
                     &f, target);
    }
    const uint32_t n = ReadScalar<uint32_t>(buf_ + target);
    const size_t data = target + 4;
    switch (f.kind) {
      case Kind::kStringVector:
        for (uint32_t i = 0; i < n; ++i) {
          if (!walk_string(follow(data + 4 * size_t{i}), t, f)) return false;
        }
        return true;
      case Kind::kTableVector:
        for (uint32_t i = 0; i < n; ++i) {
          if (!walk_table(f.target, follow(data + 4 * size_t{i}), t, &f)) return false;
        }
        return true;
      case Kind::kUnionVector:
        return walk_union_vector(t, f, pos, vt, vsize, data, n);
      default:
        if (f.nested != kNone && s_.options_.check_nested_flatbuffers) {
          return walk_nested(t, f, data, n);
        }
        return true;
    }
  }

  bool walk_union_vector(uint32_t t, const Field& f, size_t pos, size_t vt, uint16_t vsize,
                         size_t data, uint32_t n) {
    const uint16_t toff = slot_before(f, vt, vsize);
    if (toff == 0) return fail_in("union values without types", t, &f, pos);
    // The types vector is checked as a field of its own too; this guards the reads.
    const size_t at = pos + toff;
    const size_t o = v_.VerifyOffset(at);
    if (!o) return fail_in(verify_detail::offset_failure(buf_, len_, at, align_, false), t, &f, at);
    const size_t types = at + o;
    if (!v_.VerifyVectorOrString(buf_ + types, 1)) {
      return fail_in(verify_detail::vector_failure(buf_, len_, types, 1, align_, false), t, &f,
                     types);
    }
    if (ReadScalar<uint32_t>(buf_ + types) != n) {
      return fail_in("union types and values differ in length", t, &f, types);
    }
    const SchemaValidator::Union& u = s_.unions_[f.target];
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t type = buf_[types + 4 + i];
      if (!walk_member(u.members[type], true, follow(data + 4 * size_t{i}), t, f)) return false;
    }
    return true;
  }

  // A union's value of type `m`; `has_value` false when the field is absent.
  bool walk_member(const SchemaValidator::Member& m, bool has_value, size_t pos, uint32_t t,
                   const Field& f) {
    switch (m.kind) {
      case MemberKind::kAccept:
        return true;
      case MemberKind::kTable:
        return !has_value || walk_table(m.table, pos, t, &f);
      case MemberKind::kString:
        return !has_value || walk_string(pos, t, f);
      case MemberKind::kStruct:
        if (!has_value) return fail_in("union struct value missing", t, &f, pos);
        if (v_.VerifyAlignment(pos, m.align) && v_.Verify(pos, m.size)) return true;
        return fail_in(
            align_ && (pos & (m.align - 1)) ? "struct misaligned" : "struct out of bounds", t, &f,
            pos);
    }
    return true;
  }

  // A FlatBuffer inside a [ubyte]: its own buffer (offsets and alignment
  // relative to its start), the counts running on.
  bool walk_nested(uint32_t t, const Field& f, size_t data, uint32_t n) {
    if (n < kMinVerifiableSize) return fail_in("nested flatbuffer too small", t, &f, data);
    SchemaWalk inner(s_, buf_ + data, n, base_ + data, counts_, r_);
    if (inner.root(f.nested)) return true;
    if (!r_.outer_table) {
      r_.outer_table = s_.tables_[t].name.c_str();
      r_.outer_field = f.name.c_str();
    }
    return false;
  }

  const SchemaValidator& s_;
  flatbuffers::Verifier v_;
  const uint8_t* buf_;
  size_t len_;
  size_t base_;  // where buf_ lies in the payload
  bool align_;
  Counts& counts_;
  VerifyResult& r_;
};

VerifyResult SchemaValidator::verify(const uint8_t* data, size_t len) const noexcept {
  VerifyResult r;
  if (!data || len < kMinVerifiableSize) {
    r.reason = "buffer too small";
    return r;
  }
  if (len > options_.max_size) {
    r.reason = "buffer too large";
    return r;
  }
  if (identifier_[0] && std::strncmp(reinterpret_cast<const char*>(data) + 4, identifier_, 4)) {
    r.reason = "file identifier mismatch";
    r.offset = 4;
    return r;
  }
  SchemaWalk::Counts counts;
  counts.max_tables = std::min<uint64_t>(options_.max_tables, len);
  SchemaWalk walk(*this, data, len, 0, counts, r);
  walk.root(root_);
  return r;
}

}  // namespace flatstream
