// MakeTestCa: two EC P-256 keys, a self-signed CA certificate and a server
// certificate it signs, with OpenSSL 3; every OpenSSL object has one owner.
#include "testserver/test_ca.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "common/c_handle.h"
#include "common/unique_fd.h"

namespace taskfarm::testserver {
namespace {

using PkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = CHandle<X509, X509_free>;
using X509NamePtr = CHandle<X509_NAME, X509_NAME_free>;
using X509ExtensionPtr = CHandle<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = CHandle<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = CHandle<GENERAL_NAME, GENERAL_NAME_free>;
using Asn1OctetStringPtr = CHandle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1StringPtr = CHandle<ASN1_STRING, ASN1_STRING_free>;
using BignumPtr = CHandle<BIGNUM, BN_free>;
using BioPtr = CHandle<BIO, BIO_free>;

constexpr long kValidBeforeNowSeconds = 3600;     // tolerate a client clock a little behind
constexpr long kValidForSeconds = 7 * 24 * 3600;  // longer than any run

// Throws naming `step` and the first queued OpenSSL error (and clears the queue).
[[noreturn]] void Fail(const std::string& step) {
  std::string why;
  if (unsigned long code = ERR_get_error(); code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    why = std::string(": ") + buf;
  }
  ERR_clear_error();
  throw std::runtime_error("MakeTestCa: " + step + " failed" + why);
}

void Check(bool ok, const std::string& step) {
  if (!ok) Fail(step);
}

PkeyPtr NewKey() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  Check(key != nullptr, "EVP_PKEY_Q_keygen(EC P-256)");
  return key;
}

// A random positive 159-bit serial: RFC 5280 wants at most 20 octets, and
// unique serials keep clients' caches from confusing two runs' certificates.
void SetRandomSerial(X509* cert) {
  BignumPtr serial(BN_new());
  Check(serial != nullptr && BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, "BN_rand(serial)");
  Check(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) != nullptr, "BN_to_ASN1_INTEGER(serial)");
}

X509NamePtr CommonName(const std::string& cn) {
  X509NamePtr name(X509_NAME_new());
  Check(name != nullptr &&
            X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>("taskfarm test rig"), -1, -1, 0) == 1 &&
            X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt(" + cn + ")");
  return name;
}

// A certificate for `subject_key` with `subject`, issued by `issuer` (its
// own subject when null: self-signed), valid from an hour ago for a week.
X509Ptr NewCertificate(const X509_NAME* subject, EVP_PKEY* subject_key, const X509* issuer) {
  X509Ptr cert(X509_new());
  Check(cert != nullptr, "X509_new");
  Check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  SetRandomSerial(cert.get());
  Check(X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kValidBeforeNowSeconds) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidForSeconds) != nullptr,
        "X509_gmtime_adj");
  Check(X509_set_subject_name(cert.get(), subject) == 1, "X509_set_subject_name");
  Check(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject) == 1,
        "X509_set_issuer_name");
  Check(X509_set_pubkey(cert.get(), subject_key) == 1, "X509_set_pubkey");
  return cert;
}

// Adds one extension in openssl.cnf syntax ("critical,CA:TRUE"). Only used
// with fixed strings; host names go through AddSubjectAltNames, where a
// comma in a name cannot become a second entry.
void AddExtension(X509* cert, const X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, const_cast<X509*>(issuer != nullptr ? issuer : cert), cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  Check(ext != nullptr && X509_add_ext(cert, ext.get(), -1) == 1,
        std::string("extension ") + OBJ_nid2sn(nid) + "=" + value);
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

void AddSubjectAltNames(X509* cert, const std::vector<std::string>& hosts) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  Check(names != nullptr, "GENERAL_NAMES_new");
  for (const std::string& host : hosts) {
    if (host.empty() || host.find('\0') != std::string::npos) {
      throw std::runtime_error("MakeTestCa: empty or NUL-bearing host name");
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    Check(name != nullptr, "GENERAL_NAME_new");
    if (IsIpAddress(host)) {
      Asn1OctetStringPtr ip(a2i_IPADDRESS(host.c_str()));
      Check(ip != nullptr, "a2i_IPADDRESS(" + host + ")");
      GENERAL_NAME_set0_value(name.get(), GEN_IPADD, ip.release());
    } else {
      Asn1StringPtr dns(ASN1_IA5STRING_new());
      Check(dns != nullptr && ASN1_STRING_set(dns.get(), host.data(), static_cast<int>(host.size())) == 1,
            "ASN1_STRING_set(" + host + ")");
      GENERAL_NAME_set0_value(name.get(), GEN_DNS, dns.release());
    }
    Check(sk_GENERAL_NAME_push(names.get(), name.get()) > 0, "sk_GENERAL_NAME_push");
    static_cast<void>(name.release());  // owned by `names` now
  }
  Check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "X509_add1_ext_i2d(subjectAltName)");
}

void Sign(X509* cert, EVP_PKEY* issuer_key) { Check(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "X509_sign"); }

// PEM text written into a memory BIO by `write`.
template <typename Write>
std::string Pem(Write write, const std::string& what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Check(bio != nullptr && write(bio.get()) == 1, "PEM_write_bio(" + what + ")");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// Writes `contents` as `path` with `mode` from the moment it exists
// (common/file_writer's WriteWholeFile creates with the umask's mode, and a
// private key must never be readable by others, not even for a moment).
void WriteFile(const std::string& path, std::string_view contents, mode_t mode) {
  auto fail = [&](const char* what) {
    throw std::runtime_error("MakeTestCa: " + path + ": cannot " + what + ": " + std::strerror(errno));
  };
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) fail("create");
  if (::fchmod(fd.get(), mode) != 0) fail("chmod");  // an older file kept its mode
  while (!contents.empty()) {
    const ssize_t n = ::write(fd.get(), contents.data(), contents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    contents.remove_prefix(static_cast<size_t>(n));
  }
  if (!fd.Close()) fail("close");
}

}  // namespace

TestCa MakeTestCa(const std::string& dir, const std::vector<std::string>& hosts) {
  if (hosts.empty()) throw std::runtime_error("MakeTestCa: no hosts for the server certificate");
  ERR_clear_error();

  PkeyPtr ca_key = NewKey();
  // A name of its own: OpenSSL finds an issuer by name, so two runs' CAs of
  // one name trusted together (a CA directory, a bundle) could hide each other.
  unsigned char tag[6];
  Check(RAND_bytes(tag, sizeof(tag)) == 1, "RAND_bytes(name)");
  char ca_cn[64];
  std::snprintf(ca_cn, sizeof(ca_cn), "taskfarm test CA %02x%02x%02x%02x%02x%02x", tag[0], tag[1], tag[2], tag[3],
                tag[4], tag[5]);
  X509NamePtr ca_name = CommonName(ca_cn);
  X509Ptr ca = NewCertificate(ca_name.get(), ca_key.get(), nullptr);
  AddExtension(ca.get(), nullptr, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  AddExtension(ca.get(), nullptr, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(ca.get(), nullptr, NID_subject_key_identifier, "hash");
  Sign(ca.get(), ca_key.get());

  PkeyPtr server_key = NewKey();
  X509NamePtr server_name = CommonName(hosts.front());
  X509Ptr server = NewCertificate(server_name.get(), server_key.get(), ca.get());
  AddExtension(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  // ECDSA keys sign (ECDHE); they never encipher a key.
  AddExtension(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  AddExtension(server.get(), ca.get(), NID_subject_key_identifier, "hash");
  AddExtension(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  AddSubjectAltNames(server.get(), hosts);
  Sign(server.get(), ca_key.get());

  const std::string ca_pem = Pem([&](BIO* bio) { return PEM_write_bio_X509(bio, ca.get()); }, "ca certificate");
  const std::string server_pem =
      Pem([&](BIO* bio) { return PEM_write_bio_X509(bio, server.get()); }, "server certificate");
  const std::string key_pem = Pem(
      [&](BIO* bio) { return PEM_write_bio_PrivateKey(bio, server_key.get(), nullptr, nullptr, 0, nullptr, nullptr); },
      "server key");

  TestCa result{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  WriteFile(result.key_file, key_pem, 0600);
  WriteFile(result.ca_file, ca_pem, 0644);
  WriteFile(result.cert_file, server_pem + ca_pem, 0644);
  return result;
}

}  // namespace taskfarm::testserver
