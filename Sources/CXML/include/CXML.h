// The one place where libxml2 meets Swift, for reading uploaded network definitions.
//
// FoundationXML's XMLParser crashed on malformed uploads (found by fuzz/FuzzNetworkDefinition),
// so vnetd reads the few elements it needs from libxml2's tree directly, through these opaque
// handles. The parse never touches the network, never loads a DTD and never substitutes
// entities; callers refuse DOCTYPEs before parsing.
#ifndef VNETD_CXML_H
#define VNETD_CXML_H

typedef struct vnetd_xml_document vnetd_xml_document;
typedef struct vnetd_xml_node vnetd_xml_node;

/// Parses `size` bytes of UTF-8 XML. Returns the document (free it with `vnetd_xml_free`) or
/// NULL, with the line of the first error in `error_line` (0 when unknown).
vnetd_xml_document *vnetd_xml_parse(const char *bytes, int size, int *error_line);
void vnetd_xml_free(vnetd_xml_document *document);

/// The root element, or NULL.
vnetd_xml_node *vnetd_xml_root(vnetd_xml_document *document);
/// The first child element of `node`, or NULL.
vnetd_xml_node *vnetd_xml_first_element(vnetd_xml_node *node);
/// The next sibling element of `node`, or NULL.
vnetd_xml_node *vnetd_xml_next_element(vnetd_xml_node *node);
/// The element's name (owned by the document).
const char *vnetd_xml_name(vnetd_xml_node *node);
/// The text and CDATA directly inside the element, not its descendants', as a malloc'd string
/// (free with `free`).
char *vnetd_xml_own_text(vnetd_xml_node *node);
/// An attribute's value as a malloc'd string (free with `free`), or NULL when absent.
char *vnetd_xml_attribute(vnetd_xml_node *node, const char *name);

#endif
