// Tests for MakeTestCa: the files it writes, that the server certificate
// chains to the CA (in code and by the `openssl verify` command), and its
// names and uses.
#include "testserver/test_ca.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/c_handle.h"
#include "common/temp_dir.h"
#include "tests/support/subprocess.h"

namespace taskfarm::testserver {
namespace {

using X509Ptr = CHandle<X509, X509_free>;

// The first certificate in a PEM file (null if there is none).
X509Ptr ReadCertificate(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "r"), &std::fclose);
  if (!file) return nullptr;
  return X509Ptr(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
}

// X509_verify_cert of `leaf` against `ca` alone: X509_V_OK or the reason.
int Verify(X509* ca, X509* leaf) {
  CHandle<X509_STORE, X509_STORE_free> store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  CHandle<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(TestCaTest, WritesTheThreeFilesWithAPrivateKey) {
  TempDir dir("test-ca");
  const TestCa ca = MakeTestCa(dir.path());
  EXPECT_EQ(ca.ca_file, dir.File("ca.pem"));
  EXPECT_EQ(ca.cert_file, dir.File("server.pem"));
  EXPECT_EQ(ca.key_file, dir.File("server.key"));
  EXPECT_EQ(Mode(ca.key_file), 0600u);
  EXPECT_NE(ReadCertificate(ca.ca_file), nullptr);
  EXPECT_NE(ReadCertificate(ca.cert_file), nullptr);
}

TEST(TestCaTest, OpensslVerifyAcceptsTheServerCertificate) {
  TempDir dir("test-ca");
  const TestCa ca = MakeTestCa(dir.path());
  if (access("/usr/bin/openssl", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/openssl";
  taskfarm::testing::ProcessResult result =
      taskfarm::testing::Subprocess(
          {"/usr/bin/openssl", "verify", "-purpose", "sslserver", "-CAfile", ca.ca_file, ca.cert_file})
          .Wait(std::chrono::milliseconds(20000));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, ca.cert_file + ": OK\n");
}

TEST(TestCaTest, ServerCertificateChainsToTheCaAndNamesTheHosts) {
  TempDir dir("test-ca");
  const TestCa ca_files = MakeTestCa(dir.path());
  X509Ptr ca = ReadCertificate(ca_files.ca_file);
  X509Ptr leaf = ReadCertificate(ca_files.cert_file);
  ASSERT_TRUE(ca && leaf);
  EXPECT_EQ(Verify(ca.get(), leaf.get()), X509_V_OK);

  EXPECT_EQ(X509_check_ca(ca.get()), 1);  // basicConstraints CA:TRUE
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER);

  // The default hosts, as subjectAltNames, and nothing else.
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.2", 0), 0);
  EXPECT_EQ(X509_check_host(leaf.get(), "example.com", 0, 0, nullptr), 0);

  // The chain file carries the CA after the server's certificate.
  std::unique_ptr<FILE, int (*)(FILE*)> chain(std::fopen(ca_files.cert_file.c_str(), "r"), &std::fclose);
  ASSERT_TRUE(chain);
  X509Ptr first(PEM_read_X509(chain.get(), nullptr, nullptr, nullptr));
  X509Ptr second(PEM_read_X509(chain.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(X509_cmp(second.get(), ca.get()), 0);
}

TEST(TestCaTest, EachCaIsFreshAndTrustsOnlyItsOwnCertificate) {
  TempDir one("test-ca");
  TempDir two("test-ca");
  const TestCa a = MakeTestCa(one.path());
  const TestCa b = MakeTestCa(two.path());
  X509Ptr ca_a = ReadCertificate(a.ca_file);
  X509Ptr ca_b = ReadCertificate(b.ca_file);
  X509Ptr leaf_a = ReadCertificate(a.cert_file);
  ASSERT_TRUE(ca_a && ca_b && leaf_a);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca_a.get()), X509_get0_serialNumber(ca_b.get())), 0);
  EXPECT_NE(Verify(ca_b.get(), leaf_a.get()), X509_V_OK);
}

TEST(TestCaTest, GivenHostsAreTheNamesAndACommaCannotAddOne) {
  TempDir dir("test-ca");
  const TestCa ca = MakeTestCa(dir.path(), {"farm.test", "10.1.2.3", "evil,DNS:other.test"});
  X509Ptr leaf = ReadCertificate(ca.cert_file);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(X509_check_host(leaf.get(), "farm.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_host(leaf.get(), "other.test", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 0);
}

TEST(TestCaTest, FailuresThrowNamingTheFile) {
  try {
    (void)MakeTestCa("/nonexistent/test-ca");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/test-ca/server.key"), std::string::npos) << e.what();
  }
  TempDir dir("test-ca");
  EXPECT_THROW((void)MakeTestCa(dir.path(), {}), std::runtime_error);
  EXPECT_THROW((void)MakeTestCa(dir.path(), {""}), std::runtime_error);
}

}  // namespace
}  // namespace taskfarm::testserver
