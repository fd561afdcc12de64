#include "CXML.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

static void init_once(void) { xmlInitParser(); }

static void ignore_error(void *context, const char *message, ...) { (void)context; (void)message; }

vnetd_xml_document *vnetd_xml_parse(const char *bytes, int size, int *error_line) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
    *error_line = 0;
    xmlParserCtxtPtr context = xmlNewParserCtxt();
    if (context == NULL) return NULL;
    xmlSetGenericErrorFunc(NULL, ignore_error);
    xmlDocPtr document = xmlCtxtReadMemory(context, bytes, size, "definition.xml", "UTF-8",
                                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (document == NULL || !context->wellFormed) {
        *error_line = context->lastError.line;
        if (document != NULL) xmlFreeDoc(document);
        document = NULL;
    }
    xmlFreeParserCtxt(context);
    return (vnetd_xml_document *)document;
}

void vnetd_xml_free(vnetd_xml_document *document) {
    if (document != NULL) xmlFreeDoc((xmlDocPtr)document);
}

vnetd_xml_node *vnetd_xml_root(vnetd_xml_document *document) {
    return (vnetd_xml_node *)xmlDocGetRootElement((xmlDocPtr)document);
}

static xmlNodePtr element_from(xmlNodePtr node) {
    while (node != NULL && node->type != XML_ELEMENT_NODE) node = node->next;
    return node;
}

vnetd_xml_node *vnetd_xml_first_element(vnetd_xml_node *node) {
    return node == NULL ? NULL : (vnetd_xml_node *)element_from(((xmlNodePtr)node)->children);
}

vnetd_xml_node *vnetd_xml_next_element(vnetd_xml_node *node) {
    return node == NULL ? NULL : (vnetd_xml_node *)element_from(((xmlNodePtr)node)->next);
}

const char *vnetd_xml_name(vnetd_xml_node *node) {
    const xmlChar *name = ((xmlNodePtr)node)->name;
    return name == NULL ? "" : (const char *)name;
}

char *vnetd_xml_own_text(vnetd_xml_node *node) {
    size_t length = 0;
    for (xmlNodePtr child = ((xmlNodePtr)node)->children; child != NULL; child = child->next) {
        if ((child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) && child->content != NULL)
            length += strlen((const char *)child->content);
    }
    char *text = malloc(length + 1);
    if (text == NULL) return NULL;
    size_t offset = 0;
    for (xmlNodePtr child = ((xmlNodePtr)node)->children; child != NULL; child = child->next) {
        if ((child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) && child->content != NULL) {
            size_t part = strlen((const char *)child->content);
            memcpy(text + offset, child->content, part);
            offset += part;
        }
    }
    text[offset] = '\0';
    return text;
}

char *vnetd_xml_attribute(vnetd_xml_node *node, const char *name) {
    xmlChar *value = xmlGetNoNsProp((xmlNodePtr)node, (const xmlChar *)name);
    if (value == NULL) return NULL;
    char *copy = strdup((const char *)value);
    xmlFree(value);
    return copy;
}
