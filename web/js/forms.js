// The two request forms, section by section, as data: the EIO (Directive 2014/41/EU, Annex A)
// and the MLA request. Each field has the JSON name the server uses; its label is the
// translation `form.<label key>`. The renderer (views/mla.js) turns this into fieldsets whose
// controls carry `data-path` (e.g. `section_g.offences[0].maximum_penalty`), the same path the
// server's completeness check names, so a missing field can be pointed at.
//
// Kinds: text, textarea, date (YYYY-MM-DD as text), bool (checkbox), tristate (yes/no/unknown),
// int, select (with `options`), list (repeatable group of `fields`), group (an object that is
// left out when empty: `fields`).

const AUTHORITY = [
  { name: "authority_type", kind: "select", label: "authority.authority_type",
    options: ["judge", "court", "investigating_judge", "public_prosecutor", "other"] },
  { name: "name", kind: "text", label: "authority.name" },
  { name: "representative", kind: "text", label: "authority.representative" },
  { name: "position", kind: "text", label: "authority.position" },
  { name: "file_reference", kind: "text", label: "authority.file_reference" },
  { name: "address", kind: "textarea", label: "authority.address" },
  { name: "telephone", kind: "text", label: "authority.telephone" },
  { name: "email", kind: "text", label: "authority.email" },
  { name: "languages", kind: "text", label: "authority.languages" },
];

const PERSON = [
  { name: "person_type", kind: "select", label: "person.person_type", options: ["natural", "legal"] },
  { name: "name", kind: "text", label: "person.name" },
  { name: "date_of_birth", kind: "date", label: "person.date_of_birth" },
  { name: "nationality", kind: "text", label: "person.nationality" },
  { name: "address", kind: "textarea", label: "person.address" },
  { name: "status", kind: "select", label: "person.status",
    options: ["suspect", "accused", "victim", "witness", "expert", "third_party", "other"] },
  { name: "languages", kind: "text", label: "person.languages" },
];

export const EIO = [
  { name: "section_a", label: "eio.a", fields: [
    { name: "issuing_state", kind: "text", label: "eio.a.issuing_state", hint: "hint.country" },
    { name: "executing_state", kind: "text", label: "eio.a.executing_state", hint: "hint.country" }] },
  { name: "section_b", label: "eio.b", fields: [
    { name: "urgent", kind: "bool", label: "eio.b.urgent" },
    { name: "reasons", kind: "textarea", label: "eio.b.reasons" },
    { name: "deadline", kind: "date", label: "eio.b.deadline" },
    { name: "deadline_reasons", kind: "textarea", label: "eio.b.deadline_reasons" }] },
  { name: "section_c", label: "eio.c", fields: [
    { name: "measures", kind: "list", label: "eio.c.measures", item: "eio.c.measure", fields: [
      { name: "kind", kind: "select", label: "eio.c.kind", options: ["obtain_information_or_evidence",
        "hearing_of_witness", "hearing_of_expert", "hearing_of_suspect", "hearing_by_videoconference",
        "hearing_by_telephone", "identification_of_persons", "search_and_seizure", "banking_information",
        "temporary_transfer", "covert_investigation", "interception_of_telecommunications",
        "provisional_measures", "other"] },
      { name: "description", kind: "textarea", label: "eio.c.description" }] }] },
  { name: "section_d", label: "eio.d", fields: [
    { name: "earlier_eio_reference", kind: "text", label: "eio.d.earlier_eio_reference" },
    { name: "earlier_eio_date", kind: "date", label: "eio.d.earlier_eio_date" }] },
  { name: "section_e", label: "eio.e", fields: [
    { name: "persons", kind: "list", label: "eio.e.persons", item: "eio.e.person", fields: PERSON }] },
  { name: "section_f", label: "eio.f", fields: [
    { name: "proceedings", kind: "select", label: "eio.f.proceedings",
      options: ["criminal", "administrative", "judicial_non_criminal", "legal_person"] }] },
  { name: "section_g", label: "eio.g", fields: [
    { name: "facts", kind: "textarea", label: "eio.g.facts" },
    { name: "offences", kind: "list", label: "eio.g.offences", item: "eio.g.offence", fields: [
      { name: "legal_classification", kind: "text", label: "eio.g.legal_classification" },
      { name: "annex_d_category", kind: "int", label: "eio.g.annex_d_category", hint: "hint.annex_d" },
      { name: "maximum_penalty", kind: "text", label: "eio.g.maximum_penalty" }] }] },
  { name: "section_h", label: "eio.h", fields: [
    { name: "videoconference", kind: "group", label: "eio.h.videoconference", fields: [
      { name: "person_to_be_heard", kind: "text", label: "eio.h.person_to_be_heard" },
      { name: "capacity", kind: "select", label: "eio.h.capacity", options: ["witness", "expert", "suspect_or_accused"] },
      { name: "consent", kind: "tristate", label: "eio.h.consent" },
      { name: "proposed_date", kind: "date", label: "eio.h.proposed_date" },
      { name: "technical_arrangements", kind: "textarea", label: "eio.h.technical_arrangements" }] },
    { name: "banking_details", kind: "textarea", label: "eio.h.banking_details" },
    { name: "transfer_details", kind: "textarea", label: "eio.h.transfer_details" },
    { name: "interception_details", kind: "textarea", label: "eio.h.interception_details" }] },
  { name: "section_i", label: "eio.i", fields: [
    { name: "formalities", kind: "textarea", label: "eio.i.formalities" }] },
  { name: "section_j", label: "eio.j", fields: [
    { name: "remedies_sought", kind: "textarea", label: "eio.j.remedies_sought" }] },
  { name: "section_k", label: "eio.k", fields: AUTHORITY },
  { name: "section_l", label: "eio.l", nullable: true, fields: AUTHORITY },
];

/// The MLA request has no lettered sections; these groups are for reading, and the fields of
/// all but the authority sit at the form's top level (`flat`).
export const MLA = [
  { name: "states", label: "mla.states", flat: true, fields: [
    { name: "requesting_state", kind: "text", label: "mla.requesting_state", hint: "hint.country" },
    { name: "requested_state", kind: "text", label: "mla.requested_state", hint: "hint.country" },
    { name: "legal_basis", kind: "text", label: "mla.legal_basis" },
    { name: "urgent", kind: "bool", label: "mla.urgent" },
    { name: "urgency_reasons", kind: "textarea", label: "mla.urgency_reasons" },
    { name: "requested_date", kind: "date", label: "mla.requested_date" }] },
  { name: "requesting_authority", label: "mla.requesting_authority", fields: AUTHORITY },
  { name: "case", label: "mla.case", flat: true, fields: [
    { name: "facts", kind: "textarea", label: "mla.facts" },
    { name: "offences", kind: "list", label: "mla.offences", item: "mla.offence", fields: [
      { name: "legal_classification", kind: "text", label: "eio.g.legal_classification" },
      { name: "maximum_penalty", kind: "text", label: "eio.g.maximum_penalty" }] },
    { name: "persons", kind: "list", label: "mla.persons", item: "eio.e.person", fields: PERSON }] },
  { name: "assistance", label: "mla.assistance", flat: true, fields: [
    { name: "assistance_requested", kind: "textarea", label: "mla.assistance_requested" },
    { name: "procedures", kind: "textarea", label: "mla.procedures" },
    { name: "confidentiality", kind: "textarea", label: "mla.confidentiality" },
    { name: "limits_on_use", kind: "textarea", label: "mla.limits_on_use" }] },
];
