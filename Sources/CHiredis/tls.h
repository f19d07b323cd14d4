#ifndef BREAKWATER_CHIREDIS_TLS_H
#define BREAKWATER_CHIREDIS_TLS_H
/* TLS for Redis links, on a socket hiredis connected: OpenSSL (Debian's libssl3) does the
 * handshake and the record layer, hiredis stays the protocol codec (its reader parses what
 * SSL_read returns). Everything here is static inline so the Swift importer sees plain
 * functions; OpenSSL's function-like macros (SNI, minimum version) are used here because
 * Swift cannot call them.
 *
 * libssl is loaded on first use (dlopen), not linked: a process that never speaks TLS does
 * not map or relocate libssl and libcrypto (about 1.7 MB of RSS). The OpenSSL headers give
 * the types; after them every function this file calls is redirected to a pointer resolved
 * with dlsym (BREAKWATER_OPENSSL_FUNCTIONS is the whole list).
 *
 * A failure is described by a cause code (one of BREAKWATER_TLS_*) and one line of text. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define BREAKWATER_OPENSSL_FUNCTIONS(X) \
    X(TLS_client_method) X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) X(SSL_CTX_set_verify) \
    X(SSL_CTX_load_verify_locations) X(SSL_CTX_set_default_verify_paths) \
    X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_check_private_key) \
    X(SSL_new) X(SSL_free) X(SSL_set_fd) X(SSL_ctrl) X(SSL_get0_param) X(SSL_set_ex_data) X(SSL_get_ex_data) \
    X(SSL_connect) X(SSL_read) X(SSL_write) X(SSL_pending) X(SSL_get_error) X(SSL_get_verify_result) \
    X(SSL_set_quiet_shutdown) X(SSL_get_ex_data_X509_STORE_CTX_idx) \
    X(X509_VERIFY_PARAM_set_hostflags) X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_VERIFY_PARAM_set1_host) \
    X(X509_STORE_CTX_get_ex_data) X(X509_STORE_CTX_get0_cert) X(X509_verify_cert_error_string) \
    X(X509_get_ext_d2i) X(X509_get_subject_name) X(X509_NAME_get_text_by_NID) X(X509_get0_notBefore) \
    X(X509_get0_notAfter) X(GENERAL_NAMES_free) X(OPENSSL_sk_num) X(OPENSSL_sk_value) \
    X(ASN1_STRING_length) X(ASN1_STRING_get0_data) X(ASN1_TIME_print) \
    X(BIO_new) X(BIO_s_mem) X(BIO_read) X(BIO_free) \
    X(ERR_clear_error) X(ERR_peek_last_error) X(ERR_error_string_n) X(ERR_reason_error_string) \
    X(OPENSSL_init_ssl)

typedef struct {
    int loaded;
    char error[300];
#define BREAKWATER_OPENSSL_MEMBER(name) __typeof__(&name) p_##name;
    BREAKWATER_OPENSSL_FUNCTIONS(BREAKWATER_OPENSSL_MEMBER)
#undef BREAKWATER_OPENSSL_MEMBER
} breakwater_openssl_api;

/* State in function-local statics: Swift emits a header's static inline functions, not its
 * file-scope variables. */
static inline breakwater_openssl_api *breakwater_openssl_state(void) {
    static breakwater_openssl_api api;
    return &api;
}

static inline void breakwater_openssl_load(void) {
    breakwater_openssl_api *api = breakwater_openssl_state();
    const char *names[] = { "libssl.so.3", "libssl.so" };
    void *handle = NULL;
    for (size_t index = 0; index < sizeof names / sizeof names[0] && handle == NULL; index++) {
        handle = dlopen(names[index], RTLD_NOW | RTLD_LOCAL);
    }
    if (handle == NULL) {
        const char *why = dlerror();
        snprintf(api->error, sizeof api->error, "TLS needs OpenSSL 3 (libssl3): %s", why ? why : "libssl.so.3 not found");
        return;
    }
#define BREAKWATER_OPENSSL_RESOLVE(name) \
    api->p_##name = (__typeof__(&name))dlsym(handle, #name); \
    if (api->p_##name == NULL) { snprintf(api->error, sizeof api->error, "TLS needs OpenSSL 3: libssl has no %s", #name); return; }
    BREAKWATER_OPENSSL_FUNCTIONS(BREAKWATER_OPENSSL_RESOLVE)
#undef BREAKWATER_OPENSSL_RESOLVE
    /* No cleanup at exit: a connection thread may still free its session while the process
     * exits, and OpenSSL's atexit handler would free the library under it. */
    if (api->p_OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL) != 1) {
        snprintf(api->error, sizeof api->error, "TLS needs OpenSSL 3: OPENSSL_init_ssl failed");
        return;
    }
    api->loaded = 1;
}

/* The loaded API (check `loaded` before the first call). */
static inline breakwater_openssl_api *breakwater_openssl(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, breakwater_openssl_load);
    return breakwater_openssl_state();
}

/* From here on, each OpenSSL function (also inside OpenSSL's own macros) is its pointer. */
#define TLS_client_method (breakwater_openssl()->p_TLS_client_method)
#define SSL_CTX_new (breakwater_openssl()->p_SSL_CTX_new)
#define SSL_CTX_free (breakwater_openssl()->p_SSL_CTX_free)
#define SSL_CTX_ctrl (breakwater_openssl()->p_SSL_CTX_ctrl)
#define SSL_CTX_set_verify (breakwater_openssl()->p_SSL_CTX_set_verify)
#define SSL_CTX_load_verify_locations (breakwater_openssl()->p_SSL_CTX_load_verify_locations)
#define SSL_CTX_set_default_verify_paths (breakwater_openssl()->p_SSL_CTX_set_default_verify_paths)
#define SSL_CTX_use_certificate_chain_file (breakwater_openssl()->p_SSL_CTX_use_certificate_chain_file)
#define SSL_CTX_use_PrivateKey_file (breakwater_openssl()->p_SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_check_private_key (breakwater_openssl()->p_SSL_CTX_check_private_key)
#define SSL_new (breakwater_openssl()->p_SSL_new)
#define SSL_free (breakwater_openssl()->p_SSL_free)
#define SSL_set_fd (breakwater_openssl()->p_SSL_set_fd)
#define SSL_ctrl (breakwater_openssl()->p_SSL_ctrl)
#define SSL_get0_param (breakwater_openssl()->p_SSL_get0_param)
#define SSL_set_ex_data (breakwater_openssl()->p_SSL_set_ex_data)
#define SSL_get_ex_data (breakwater_openssl()->p_SSL_get_ex_data)
#define SSL_connect (breakwater_openssl()->p_SSL_connect)
#define SSL_read (breakwater_openssl()->p_SSL_read)
#define SSL_write (breakwater_openssl()->p_SSL_write)
#define SSL_pending (breakwater_openssl()->p_SSL_pending)
#define SSL_get_error (breakwater_openssl()->p_SSL_get_error)
#define SSL_get_verify_result (breakwater_openssl()->p_SSL_get_verify_result)
#define SSL_set_quiet_shutdown (breakwater_openssl()->p_SSL_set_quiet_shutdown)
#define SSL_get_ex_data_X509_STORE_CTX_idx (breakwater_openssl()->p_SSL_get_ex_data_X509_STORE_CTX_idx)
#define X509_VERIFY_PARAM_set_hostflags (breakwater_openssl()->p_X509_VERIFY_PARAM_set_hostflags)
#define X509_VERIFY_PARAM_set1_ip_asc (breakwater_openssl()->p_X509_VERIFY_PARAM_set1_ip_asc)
#define X509_VERIFY_PARAM_set1_host (breakwater_openssl()->p_X509_VERIFY_PARAM_set1_host)
#define X509_STORE_CTX_get_ex_data (breakwater_openssl()->p_X509_STORE_CTX_get_ex_data)
#define X509_STORE_CTX_get0_cert (breakwater_openssl()->p_X509_STORE_CTX_get0_cert)
#define X509_verify_cert_error_string (breakwater_openssl()->p_X509_verify_cert_error_string)
#define X509_get_ext_d2i (breakwater_openssl()->p_X509_get_ext_d2i)
#define X509_get_subject_name (breakwater_openssl()->p_X509_get_subject_name)
#define X509_NAME_get_text_by_NID (breakwater_openssl()->p_X509_NAME_get_text_by_NID)
#define X509_get0_notBefore (breakwater_openssl()->p_X509_get0_notBefore)
#define X509_get0_notAfter (breakwater_openssl()->p_X509_get0_notAfter)
#define GENERAL_NAMES_free (breakwater_openssl()->p_GENERAL_NAMES_free)
#define OPENSSL_sk_num (breakwater_openssl()->p_OPENSSL_sk_num)
#define OPENSSL_sk_value (breakwater_openssl()->p_OPENSSL_sk_value)
#define ASN1_STRING_length (breakwater_openssl()->p_ASN1_STRING_length)
#define ASN1_STRING_get0_data (breakwater_openssl()->p_ASN1_STRING_get0_data)
#define ASN1_TIME_print (breakwater_openssl()->p_ASN1_TIME_print)
#define BIO_new (breakwater_openssl()->p_BIO_new)
#define BIO_s_mem (breakwater_openssl()->p_BIO_s_mem)
#define BIO_read (breakwater_openssl()->p_BIO_read)
#define BIO_free (breakwater_openssl()->p_BIO_free)
#define ERR_clear_error (breakwater_openssl()->p_ERR_clear_error)
#define ERR_peek_last_error (breakwater_openssl()->p_ERR_peek_last_error)
#define ERR_error_string_n (breakwater_openssl()->p_ERR_error_string_n)
#define ERR_reason_error_string (breakwater_openssl()->p_ERR_reason_error_string)

enum {
    BREAKWATER_TLS_OK = 0,
    BREAKWATER_TLS_FILES = 1,            /* CA, certificate or key file unreadable or unusable */
    BREAKWATER_TLS_UNKNOWN_CA = 2,       /* the server's chain does not lead to a trusted CA */
    BREAKWATER_TLS_EXPIRED = 3,          /* the server's certificate has expired */
    BREAKWATER_TLS_NOT_YET_VALID = 4,    /* the server's certificate is not valid yet */
    BREAKWATER_TLS_NAME_MISMATCH = 5,    /* the certificate is for another host name or IP */
    BREAKWATER_TLS_TIMEOUT = 6,          /* no (complete) TLS answer within the timeout */
    BREAKWATER_TLS_PLAINTEXT = 7,        /* the server answered, but not with TLS */
    BREAKWATER_TLS_CLIENT_CERT_REQUIRED = 8, /* the server asks for a client certificate */
    BREAKWATER_TLS_CLIENT_CERT_REJECTED = 9, /* the server refused ours */
    BREAKWATER_TLS_CLOSED = 10,          /* the server closed the connection */
    BREAKWATER_TLS_OTHER = 11,           /* any other handshake or record failure */
    BREAKWATER_TLS_UNAVAILABLE = 12,     /* libssl could not be loaded */
};

typedef struct {
    int cause;
    char message[400];
    /* filled by the verify callback: the server certificate's names and validity */
    char names[200];
    char not_before[40];
    char not_after[40];
} breakwater_tls_failure;

static inline void breakwater_tls_fail(breakwater_tls_failure *failure, int cause, const char *text) {
    failure->cause = cause;
    snprintf(failure->message, sizeof failure->message, "%s", text);
}

/* OpenSSL's own words for the newest queued error, or "" */
static inline void breakwater_tls_last_error_text(char *buffer, size_t size) {
    unsigned long code = ERR_peek_last_error();
    if (code == 0) { buffer[0] = 0; return; }
    ERR_error_string_n(code, buffer, size);
}

static inline int breakwater_tls_is_ip(const char *name) {
    unsigned char address[16];
    return inet_pton(AF_INET, name, address) == 1 || inet_pton(AF_INET6, name, address) == 1;
}

/* "DNS:a, IP:1.2.3.4" (the subject alternative names), else "CN=…" */
static inline void breakwater_tls_names(X509 *certificate, char *buffer, size_t size) {
    buffer[0] = 0;
    if (certificate == NULL) return;
    GENERAL_NAMES *names = X509_get_ext_d2i(certificate, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;
    if (names != NULL) {
        for (int index = 0; index < sk_GENERAL_NAME_num(names) && used + 1 < size; index++) {
            const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
            char item[64] = "";
            if (name->type == GEN_DNS) {
                snprintf(item, sizeof item, "DNS:%.*s", ASN1_STRING_length(name->d.dNSName), (const char *)ASN1_STRING_get0_data(name->d.dNSName));
            } else if (name->type == GEN_IPADD) {
                const unsigned char *raw = ASN1_STRING_get0_data(name->d.iPAddress);
                int length = ASN1_STRING_length(name->d.iPAddress);
                char text[INET6_ADDRSTRLEN] = "?";
                if (length == 4) inet_ntop(AF_INET, raw, text, sizeof text);
                if (length == 16) inet_ntop(AF_INET6, raw, text, sizeof text);
                snprintf(item, sizeof item, "IP:%s", text);
            } else {
                continue;
            }
            used += (size_t)snprintf(buffer + used, size - used, "%s%s", used ? ", " : "", item);
        }
        GENERAL_NAMES_free(names);
    }
    /* The names come from the server: only printable ASCII reaches a log line. */
    for (size_t index = 0; index < used && buffer[index]; index++) {
        if ((unsigned char)buffer[index] < 0x20 || (unsigned char)buffer[index] > 0x7e) buffer[index] = '?';
    }
    if (used == 0) {
        char common[128] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, common, sizeof common);
        for (size_t index = 0; common[index]; index++) {
            if ((unsigned char)common[index] < 0x20 || (unsigned char)common[index] > 0x7e) common[index] = '?';
        }
        snprintf(buffer, size, "CN=%s", common[0] ? common : "(none)");
    }
}

static inline void breakwater_tls_time(const ASN1_TIME *time, char *buffer, size_t size) {
    buffer[0] = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return;
    if (ASN1_TIME_print(bio, time) == 1) {
        int length = BIO_read(bio, buffer, (int)size - 1);
        buffer[length > 0 ? length : 0] = 0;
    }
    BIO_free(bio);
}

/* Records the server certificate's names and dates while OpenSSL verifies it, so a
 * refusal can say what the certificate is for (the session keeps no peer certificate
 * after a failed handshake). */
static inline int breakwater_tls_verify_callback(int ok, X509_STORE_CTX *store) {
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    breakwater_tls_failure *failure = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    if (failure && leaf && !failure->names[0]) {
        breakwater_tls_names(leaf, failure->names, sizeof failure->names);
        breakwater_tls_time(X509_get0_notBefore(leaf), failure->not_before, sizeof failure->not_before);
        breakwater_tls_time(X509_get0_notAfter(leaf), failure->not_after, sizeof failure->not_after);
    }
    return ok;
}

/* Describes why an SSL call (`result` is its return value) failed; `name` is what the
 * certificate was checked against. */
static inline void breakwater_tls_describe(SSL *ssl, int result, int saved_errno, const char *name, int handshaking, breakwater_tls_failure *failure) {
    char text[300];
    int error = SSL_get_error(ssl, result);
    unsigned long code = ERR_peek_last_error();
    int reason = ERR_GET_REASON(code);
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long verify = SSL_get_verify_result(ssl);
        switch (verify) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            snprintf(text, sizeof text, "the server's certificate has expired (not after %s)", failure->not_after[0] ? failure->not_after : "?");
            breakwater_tls_fail(failure, BREAKWATER_TLS_EXPIRED, text);
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            snprintf(text, sizeof text, "the server's certificate is not valid yet (not before %s; is this clock right?)", failure->not_before[0] ? failure->not_before : "?");
            breakwater_tls_fail(failure, BREAKWATER_TLS_NOT_YET_VALID, text);
            break;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            snprintf(text, sizeof text, "name mismatch: the server's certificate is for %s, not %s (set server_name / REDIS_TLS_SERVER_NAME to the name it carries)", failure->names[0] ? failure->names : "?", name ? name : "?");
            breakwater_tls_fail(failure, BREAKWATER_TLS_NAME_MISMATCH, text);
            break;
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
        case X509_V_ERR_CERT_SIGNATURE_FAILURE:
            snprintf(text, sizeof text, "unknown CA: the server's certificate is not signed by a trusted CA (%s; set ca_file / REDIS_TLS_CA_FILE to the CA that signed it)", X509_verify_cert_error_string(verify));
            breakwater_tls_fail(failure, BREAKWATER_TLS_UNKNOWN_CA, text);
            break;
        default:
            snprintf(text, sizeof text, "the server's certificate was refused: %s", X509_verify_cert_error_string(verify));
            breakwater_tls_fail(failure, BREAKWATER_TLS_OTHER, text);
        }
        return;
    }
    switch (reason) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        breakwater_tls_fail(failure, BREAKWATER_TLS_CLIENT_CERT_REQUIRED, "the server requires a client certificate (set cert_file and key_file / REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)");
        return;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        breakwater_tls_last_error_text(text, sizeof text);
        {
            char line[400];
            snprintf(line, sizeof line, "the server refused our client certificate (%s)", ERR_reason_error_string(code) ? ERR_reason_error_string(code) : text);
            breakwater_tls_fail(failure, BREAKWATER_TLS_CLIENT_CERT_REJECTED, line);
        }
        return;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
#ifdef SSL_R_RECORD_LAYER_FAILURE
    case SSL_R_RECORD_LAYER_FAILURE:
#endif
        if (handshaking) {
            breakwater_tls_fail(failure, BREAKWATER_TLS_PLAINTEXT, "the server did not answer with TLS (a plaintext Redis port? TLS needs the server's tls-port)");
            return;
        }
        break;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        breakwater_tls_fail(failure, BREAKWATER_TLS_CLOSED, handshaking ? "the server closed the connection during the TLS handshake" : "the server closed the connection");
        return;
#endif
    default:
        break;
    }
    if ((error == SSL_ERROR_SYSCALL || error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
        && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT)) {
        breakwater_tls_fail(failure, BREAKWATER_TLS_TIMEOUT, handshaking ? "TLS handshake timed out (no TLS answer: a plaintext Redis port, or a server that is stuck)" : "timed out");
        return;
    }
    if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && code == 0 && (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE))) {
        breakwater_tls_fail(failure, BREAKWATER_TLS_CLOSED, handshaking ? "the server closed the connection during the TLS handshake" : "the server closed the connection");
        return;
    }
    breakwater_tls_last_error_text(text, sizeof text);
    if (!text[0]) snprintf(text, sizeof text, "%s", saved_errno ? strerror(saved_errno) : "unknown error");
    char line[400];
    snprintf(line, sizeof line, "%s%s", handshaking ? "TLS handshake failed: " : "TLS: ", text);
    breakwater_tls_fail(failure, BREAKWATER_TLS_OTHER, line);
}

/* A client context with the given files, loaded now (so a rotated file is read again on
 * every call). `ca_file` NULL: the system trust store. NULL on failure (cause FILES). */
static inline SSL_CTX *breakwater_tls_context(const char *ca_file, const char *cert_file, const char *key_file, int verify_peer, breakwater_tls_failure *failure) {
    char text[300];
    char line[400];
    if (!breakwater_openssl()->loaded) {
        breakwater_tls_fail(failure, BREAKWATER_TLS_UNAVAILABLE, breakwater_openssl()->error);
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) {
        breakwater_tls_fail(failure, BREAKWATER_TLS_OTHER, "cannot create a TLS context");
        return NULL;
    }
    const char *files[3][2] = {{"CA file", verify_peer ? ca_file : NULL}, {"client certificate", cert_file}, {"client key", key_file}};
    for (int index = 0; index < 3; index++) {
        if (files[index][1] && access(files[index][1], R_OK) != 0) {
            snprintf(line, sizeof line, "cannot read the %s %s (%s)", files[index][0], files[index][1], strerror(errno));
            breakwater_tls_fail(failure, BREAKWATER_TLS_FILES, line);
            SSL_CTX_free(context);
            return NULL;
        }
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_mode(context, SSL_MODE_AUTO_RETRY);
    if (verify_peer) {
        int loaded = ca_file ? SSL_CTX_load_verify_locations(context, ca_file, NULL) : SSL_CTX_set_default_verify_paths(context);
        if (loaded != 1) {
            breakwater_tls_last_error_text(text, sizeof text);
            snprintf(line, sizeof line, "cannot load the CA file %s (%s)", ca_file ? ca_file : "(system trust store)", text);
            breakwater_tls_fail(failure, BREAKWATER_TLS_FILES, line);
            SSL_CTX_free(context);
            return NULL;
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, breakwater_tls_verify_callback);
    } else {
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    }
    if (cert_file) {
        if (SSL_CTX_use_certificate_chain_file(context, cert_file) != 1) {
            breakwater_tls_last_error_text(text, sizeof text);
            snprintf(line, sizeof line, "cannot load the client certificate %s (%s)", cert_file, text);
            breakwater_tls_fail(failure, BREAKWATER_TLS_FILES, line);
            SSL_CTX_free(context);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(context, key_file ? key_file : cert_file, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(context) != 1) {
            breakwater_tls_last_error_text(text, sizeof text);
            snprintf(line, sizeof line, "cannot use the client key %s with %s (%s)", key_file ? key_file : cert_file, cert_file, text);
            breakwater_tls_fail(failure, BREAKWATER_TLS_FILES, line);
            SSL_CTX_free(context);
            return NULL;
        }
    }
    return context;
}

/* Runs the client handshake on a connected, blocking socket whose timeouts bound each read
 * and write. `sni`: the name sent (NULL: none, e.g. for an IP); `check_name`: the host name
 * or IP the certificate must carry (NULL with verify_peer 0). Returns the session (free
 * with breakwater_tls_free) or NULL with `failure` set. */
static inline SSL *breakwater_tls_connect(int fd, const char *ca_file, const char *cert_file, const char *key_file, const char *sni, const char *check_name, int verify_peer, breakwater_tls_failure *failure) {
    memset(failure, 0, sizeof *failure);
    SSL_CTX *context = breakwater_tls_context(ca_file, cert_file, key_file, verify_peer, failure);
    if (context == NULL) return NULL;
    SSL *ssl = SSL_new(context);
    SSL_CTX_free(context); /* the session holds its own reference */
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        breakwater_tls_fail(failure, BREAKWATER_TLS_OTHER, "cannot create a TLS session");
        if (ssl) SSL_free(ssl);
        return NULL;
    }
    if (sni && !breakwater_tls_is_ip(sni)) SSL_set_tlsext_host_name(ssl, sni);
    if (verify_peer && check_name) {
        X509_VERIFY_PARAM *parameters = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int set = breakwater_tls_is_ip(check_name) ? X509_VERIFY_PARAM_set1_ip_asc(parameters, check_name) : X509_VERIFY_PARAM_set1_host(parameters, check_name, 0);
        if (set != 1) {
            breakwater_tls_fail(failure, BREAKWATER_TLS_OTHER, "cannot set the name to verify");
            SSL_free(ssl);
            return NULL;
        }
    }
    SSL_set_app_data(ssl, failure);
    ERR_clear_error();
    errno = 0;
    int result = SSL_connect(ssl);
    int saved_errno = errno;
    SSL_set_app_data(ssl, NULL); /* `failure` lives only during this call */
    if (result != 1) {
        breakwater_tls_describe(ssl, result, saved_errno, check_name, 1, failure);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

/* > 0: bytes read; 0: the server closed (failure says so); < 0: failed (failure set). */
static inline long breakwater_tls_read(SSL *ssl, void *buffer, int size, breakwater_tls_failure *failure) {
    ERR_clear_error();
    errno = 0;
    int result = SSL_read(ssl, buffer, size);
    if (result > 0) return result;
    breakwater_tls_describe(ssl, result, errno, NULL, 0, failure);
    return failure->cause == BREAKWATER_TLS_CLOSED ? 0 : -1;
}

/* > 0: bytes written; <= 0: failed (failure set). */
static inline long breakwater_tls_write(SSL *ssl, const void *buffer, int size, breakwater_tls_failure *failure) {
    ERR_clear_error();
    errno = 0;
    int result = SSL_write(ssl, buffer, size);
    if (result > 0) return result;
    breakwater_tls_describe(ssl, result, errno, NULL, 0, failure);
    if (failure->cause == BREAKWATER_TLS_CLOSED || failure->cause == BREAKWATER_TLS_OTHER) {
        /* A server that refuses our client certificate (TLS 1.3 checks it after the
         * client's handshake ends) sends an alert and closes: read it, it names the cause. */
        breakwater_tls_failure alert;
        memset(&alert, 0, sizeof alert);
        char scratch[256];
        ERR_clear_error();
        errno = 0;
        int read = SSL_read(ssl, scratch, sizeof scratch);
        if (read <= 0) {
            breakwater_tls_describe(ssl, read, errno, NULL, 0, &alert);
            if (alert.cause == BREAKWATER_TLS_CLIENT_CERT_REQUIRED || alert.cause == BREAKWATER_TLS_CLIENT_CERT_REJECTED) *failure = alert;
        }
    }
    return -1;
}

/* Frees the session without a close_notify round trip (the socket is closed by hiredis). */
static inline void breakwater_tls_free(SSL *ssl) {
    if (ssl == NULL) return;
    SSL_set_quiet_shutdown(ssl, 1);
    SSL_free(ssl);
}

/* Decrypted bytes already buffered in the session (poll(2) on the socket cannot see them). */
static inline int breakwater_tls_pending(SSL *ssl) { return ssl ? SSL_pending(ssl) : 0; }

/* Loads the files as a connect would, and reports the first problem (SIGHUP check). */
static inline int breakwater_tls_check_files(const char *ca_file, const char *cert_file, const char *key_file, int verify_peer, breakwater_tls_failure *failure) {
    failure->cause = BREAKWATER_TLS_OK;
    failure->message[0] = 0;
    SSL_CTX *context = breakwater_tls_context(ca_file, cert_file, key_file, verify_peer, failure);
    if (context == NULL) return 0;
    SSL_CTX_free(context);
    return 1;
}
#endif
