// A TLS certificate and key for servers on 127.0.0.1 and localhost in tests and benchmarks (no files, no openssl run).

/** A self-signed CA certificate for 127.0.0.1 and localhost (valid 2020–2120), used as the server's certificate
 *  and, since it is also marked for client auth, as the client certificate in mutual-TLS tests. */
export const LOCALHOST_CERT = `-----BEGIN CERTIFICATE-----
MIIBojCCAUigAwIBAgIBATAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9mYWtlLWt1
YmVybmV0ZXMwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBoxGDAW
BgNVBAMMD2Zha2Uta3ViZXJuZXRlczBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IA
BD3a3/DRF6JpTSWQnebUZgSAQUt3jB6stUqKBe2SP+z5xPSzrMqynuWzOfMI8ZKA
kGXuIokdgSYfojfS+KBNVdKjfTB7MBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9z
dDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwDwYDVR0TAQH/BAUwAwEB
/zAOBgNVHQ8BAf8EBAMCAoQwHQYDVR0OBBYEFNi/pxyMdNgdO/1lx2gIaVlqvb9R
MAoGCCqGSM49BAMCA0gAMEUCIQCdhPChlezHOdkIwhPcphurb8xOSCy649DLBekV
FnXmaAIgdr8DPcAKM8e5ErDPWF/RV6yxtDCEbVNM6VI2KX2WVsE=
-----END CERTIFICATE-----
`;

export const LOCALHOST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAe517DVwuDQp5Djr
nF/S0dwhEor3WfCTk/sQKPy5N9mhRANCAAQ92t/w0ReiaU0lkJ3m1GYEgEFLd4we
rLVKigXtkj/s+cT0s6zKsp7lsznzCPGSgJBl7iKJHYEmH6I30vigTVXS
-----END PRIVATE KEY-----
`;
