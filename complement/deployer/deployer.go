// Package deployer runs pimatrix homeservers as plain processes for
// Complement (no Docker). Complement's TestMain takes it through
// complement.WithDeployment(deployer.Deploy); complement/run swaps each
// suite package's main_test.go for one that does so (go test -overlay).
//
// Servers of a deployment are named hs1, hs2, ... and hsN listens on
// 127.0.0.(N+1): 8008 for the Client-Server API (plain HTTP) and 8448 for
// federation (TLS with a certificate for hsN signed by Complement's CA).
// complement/run maps the names in /etc/hosts, so our servers find each
// other under their server names exactly as they do in Complement's Docker
// network. Only one deployment exists at a time (run the suite with
// -parallel 1).
//
// Settings (environment):
//
//	PIMATRIX_ROOT            the repository (dist/src/main.js is started); required
//	PIMATRIX_COMPLEMENT_WORK scratch directory for data dirs, configs and logs
//	                         (default: a new temporary directory)
//	PIMATRIX_NODE            node binary (default "node")
//	PIMATRIX_LOG_LEVEL       server log level (default "info")
package deployer

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/matrix-org/complement"
	"github.com/matrix-org/complement/client"
	"github.com/matrix-org/complement/config"
	"github.com/matrix-org/complement/ct"
	"github.com/matrix-org/complement/helpers"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

const (
	clientPort     = 8008
	federationPort = 8448
	maxServers     = 4
	// Complement's client.RegisterSharedSecret signs with this secret.
	sharedSecret = "complement"
)

var (
	workOnce sync.Once
	workDir  string
	workErr  error

	deployCounter atomic.Int64
	// live is the deployment whose servers are running (at most one).
	liveMu sync.Mutex
	live   *Deployment
)

func work() (string, error) {
	workOnce.Do(func() {
		workDir = os.Getenv("PIMATRIX_COMPLEMENT_WORK")
		if workDir == "" {
			workDir, workErr = os.MkdirTemp("", "pimatrix-complement-")
			return
		}
		workErr = os.MkdirAll(workDir, 0o755)
	})
	return workDir, workErr
}

// Deploy starts numServers fresh servers (hs1..hsN) and returns them as a
// complement.Deployment.
func Deploy(t ct.TestLike, numServers int, cfg *config.Complement) complement.Deployment {
	t.Helper()
	if numServers < 1 || numServers > maxServers {
		ct.Fatalf(t, "pimatrix deployer: %d servers asked for; 1 to %d are supported", numServers, maxServers)
	}
	root := os.Getenv("PIMATRIX_ROOT")
	if root == "" {
		ct.Fatalf(t, "pimatrix deployer: PIMATRIX_ROOT (the repository) is not set")
	}
	base, err := work()
	if err != nil {
		ct.Fatalf(t, "pimatrix deployer: scratch directory: %s", err)
	}
	// A test that forgot Destroy must not keep the addresses from the next one.
	liveMu.Lock()
	prev := live
	live = nil
	liveMu.Unlock()
	if prev != nil {
		prev.stopAll()
	}

	n := deployCounter.Add(1)
	dir := filepath.Join(base, fmt.Sprintf("d%04d-%s", n, sanitise(t.Name())))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		ct.Fatalf(t, "pimatrix deployer: %s", err)
	}
	caPath := filepath.Join(dir, "complement-ca.pem")
	caPEM, err := cfg.CACertificateBytes()
	if err != nil {
		ct.Fatalf(t, "pimatrix deployer: CA certificate: %s", err)
	}
	if err := os.WriteFile(caPath, caPEM, 0o644); err != nil {
		ct.Fatalf(t, "pimatrix deployer: %s", err)
	}
	d := &Deployment{
		cfg:  cfg,
		dir:  dir,
		root: root,
		HS:   map[string]*server{},
	}
	for i := 1; i <= numServers; i++ {
		name := fmt.Sprintf("hs%d", i)
		s := &server{
			name: name,
			ip:   fmt.Sprintf("127.0.0.%d", i+1),
			dir:  filepath.Join(dir, name),
		}
		if err := s.prepare(cfg, caPath); err != nil {
			ct.Fatalf(t, "pimatrix deployer: preparing %s: %s", name, err)
		}
		d.HS[name] = s
	}
	liveMu.Lock()
	live = d
	liveMu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, numServers+1)
	for i := 1; i <= numServers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = d.HS[fmt.Sprintf("hs%d", i)].start(d, cfg.SpawnHSTimeout)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			d.printLogs(t)
			d.stopAll()
			ct.Fatalf(t, "pimatrix deployer: %s", err)
		}
	}
	return d
}

// Cleanup stops whatever is still running; pass it to complement.WithCleanup.
func Cleanup(*config.Complement) {
	liveMu.Lock()
	d := live
	live = nil
	liveMu.Unlock()
	if d != nil {
		d.stopAll()
	}
	if os.Getenv("PIMATRIX_COMPLEMENT_WORK") == "" && workDir != "" {
		_ = os.RemoveAll(workDir)
	}
}

func sanitise(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
		if b.Len() >= 80 {
			break
		}
	}
	return b.String()
}

// server is one homeserver process and its data directory.
type server struct {
	name string
	ip   string
	dir  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	paused  bool
	logFile *os.File

	clientsMu sync.Mutex
	clients   []*client.CSAPI
}

func (s *server) baseURL() string { return fmt.Sprintf("http://%s:%d", s.ip, clientPort) }
func (s *server) fedHost() string { return fmt.Sprintf("%s:%d", s.ip, federationPort) }
func (s *server) configPath() string {
	return filepath.Join(s.dir, "homeserver.yaml")
}
func (s *server) logPath() string { return filepath.Join(s.dir, "server.log") }
func (s *server) pidPath() string { return filepath.Join(s.dir, "server.pid") }

// prepare writes the TLS certificate and the config.
func (s *server) prepare(cfg *config.Complement, caPath string) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
		return err
	}
	certPath := filepath.Join(s.dir, "tls.crt")
	keyPath := filepath.Join(s.dir, "tls.key")
	if err := writeCertificate(cfg, s.name, s.ip, certPath, keyPath); err != nil {
		return err
	}
	logLevel := os.Getenv("PIMATRIX_LOG_LEVEL")
	if logLevel == "" {
		logLevel = "info"
	}
	yaml := fmt.Sprintf(`# Written by the pimatrix Complement deployer.
server_name: %[1]s
data_dir: %[2]q
bind_address: %[3]s
port: %[4]d
public_baseurl: "http://%[1]s:%[4]d"
default_room_version: "10"
database:
  engine: sqlite
  sqlite_synchronous: normal
registration:
  enabled: true
  shared_secret: %[5]q
user_directory:
  search_all_users: false
media:
  url_preview_enabled: true
  url_preview_allow_private_addresses: true
rate_limits:
  message: { per_second: 0, burst: 1 }
  login: { per_second: 0, burst: 1 }
  registration: { per_second: 0, burst: 1 }
federation:
  enabled: true
  tls_port: %[6]d
  tls_certificate_path: %[7]q
  tls_private_key_path: %[8]q
  trusted_ca_paths: [%[9]q]
  verify_tls: true
  allow_private_addresses: true
  request_timeout_ms: 10000
  retry_initial_ms: 200
  retry_max_ms: 2000
push:
  allow_private_addresses: true
  require_https: false
  retry_initial_ms: 200
  retry_max_ms: 2000
  expand_delay_ms: 10
log_level: %[10]s
`, s.name, filepath.Join(s.dir, "data"), s.ip, clientPort, sharedSecret, federationPort, certPath, keyPath, caPath, logLevel)
	return os.WriteFile(s.configPath(), []byte(yaml), 0o644)
}

func writeCertificate(cfg *config.Complement, name, ip, certPath, keyPath string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	template := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"pimatrix complement"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, cfg.CACertificate, &key.PublicKey, cfg.CAPrivateKey)
	if err != nil {
		return err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyPath, keyPEM, 0o600)
}

// start launches the process and waits until the Client-Server API answers.
func (s *server) start(d *Deployment, timeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("%s is already running", s.name)
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "==== starting %s at %s\n", s.name, time.Now().Format(time.RFC3339Nano))
	node := os.Getenv("PIMATRIX_NODE")
	if node == "" {
		node = "node"
	}
	cmd := exec.Command(node, filepath.Join(d.root, "dist", "src", "main.js"), "start", "--config", s.configPath())
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Not inheriting PIMATRIX_* settings meant for the deployer.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIMATRIX_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", s.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.logFile, s.paused = cmd, exited, logFile, false
	// complement/run kills what these name if the test binary dies before Destroy.
	_ = os.WriteFile(s.pidPath(), []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644)

	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	probe := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("%s exited during start-up (log: %s)", s.name, s.logPath())
		default:
		}
		res, err := probe.Get(s.baseURL() + "/_matrix/client/versions")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.fedHost(), &tls.Config{InsecureSkipVerify: true}); err == nil {
					conn.Close()
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s (log: %s)", s.name, timeout, s.logPath())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process (SIGTERM, then SIGKILL) and waits for it.
func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("%s is not running", s.name)
	}
	pgid := -s.cmd.Process.Pid
	if s.paused {
		_ = syscall.Kill(pgid, syscall.SIGCONT)
		s.paused = false
	}
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-s.exited
	}
	if s.logFile != nil {
		fmt.Fprintf(s.logFile, "==== stopped %s at %s\n", s.name, time.Now().Format(time.RFC3339Nano))
		s.logFile.Close()
		s.logFile = nil
	}
	s.cmd = nil
	_ = os.Remove(s.pidPath())
	return nil
}

func (s *server) signal(sig syscall.Signal, paused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("%s is not running", s.name)
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		return err
	}
	s.paused = paused
	return nil
}

func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *server) track(c *client.CSAPI) {
	s.clientsMu.Lock()
	s.clients = append(s.clients, c)
	s.clientsMu.Unlock()
}

// Deployment implements complement.Deployment for processes.
type Deployment struct {
	cfg       *config.Complement
	dir       string
	root      string
	HS        map[string]*server
	localpart atomic.Int64
	destroyed atomic.Bool
}

var _ complement.Deployment = (*Deployment)(nil)

func (d *Deployment) hs(t ct.TestLike, hsName, fn string) *server {
	t.Helper()
	s, ok := d.HS[hsName]
	if !ok {
		ct.Fatalf(t, "Deployment.%s: no homeserver %q in this deployment", fn, hsName)
	}
	return s
}

func (d *Deployment) newClient(t ct.TestLike, s *server, password string) *client.CSAPI {
	c := client.NewCSAPI(client.CSAPIOpts{
		BaseURL:          s.baseURL(),
		Client:           client.NewLoggedClient(t, s.name, nil),
		SyncUntilTimeout: 5 * time.Second,
		Debug:            d.cfg.DebugLoggingEnabled,
		Password:         password,
	})
	s.track(c)
	return c
}

func (d *Deployment) GetFullyQualifiedHomeserverName(t ct.TestLike, hsName string) spec.ServerName {
	t.Helper()
	return spec.ServerName(d.hs(t, hsName, "GetFullyQualifiedHomeserverName").name)
}

func (d *Deployment) UnauthenticatedClient(t ct.TestLike, hsName string) *client.CSAPI {
	t.Helper()
	return d.newClient(t, d.hs(t, hsName, "UnauthenticatedClient"), "")
}

func (d *Deployment) Register(t ct.TestLike, hsName string, opts helpers.RegistrationOpts) *client.CSAPI {
	t.Helper()
	s := d.hs(t, hsName, "Register")
	password := opts.Password
	if password == "" {
		password = "complement_meets_min_password_req"
	}
	c := d.newClient(t, s, password)
	localpart := fmt.Sprintf("user-%d", d.localpart.Add(1))
	if opts.LocalpartSuffix != "" {
		localpart += "-" + opts.LocalpartSuffix
	}
	var userID, token, deviceID string
	if opts.IsAdmin {
		userID, token, deviceID = c.RegisterSharedSecret(t, localpart, password, true)
	} else {
		userID, token, deviceID = c.RegisterUser(t, localpart, password)
	}
	c.UserID, c.AccessToken, c.DeviceID = userID, token, deviceID
	return c
}

func (d *Deployment) Login(t ct.TestLike, hsName string, existing *client.CSAPI, opts helpers.LoginOpts) *client.CSAPI {
	t.Helper()
	s := d.hs(t, hsName, "Login")
	userID := existing.UserID
	if !strings.HasPrefix(userID, "@") || !strings.Contains(userID, ":") {
		ct.Fatalf(t, "Deployment.Login: existing client has no valid user id (%q)", userID)
	}
	localpart := userID[1:strings.Index(userID, ":")]
	password := existing.Password
	if opts.Password != "" {
		password = opts.Password
	}
	c := d.newClient(t, s, password)
	var token, deviceID string
	if opts.DeviceID == "" {
		userID, token, deviceID = c.LoginUser(t, localpart, password)
	} else {
		userID, token, deviceID = c.LoginUser(t, localpart, password, client.WithDeviceID(opts.DeviceID))
	}
	c.UserID, c.AccessToken, c.DeviceID = userID, token, deviceID
	return c
}

func (d *Deployment) AppServiceUser(t ct.TestLike, hsName, appServiceUserID string) *client.CSAPI {
	t.Helper()
	ct.Fatalf(t, "Deployment.AppServiceUser: the process deployer registers no application services (that needs a Docker blueprint)")
	return nil
}

func (d *Deployment) Restart(t ct.TestLike) error {
	t.Helper()
	for _, name := range d.names() {
		s := d.HS[name]
		if err := s.stop(); err != nil {
			t.Errorf("Deployment.Restart: %s", err)
			return err
		}
		if err := s.start(d, d.cfg.SpawnHSTimeout); err != nil {
			t.Errorf("Deployment.Restart: %s", err)
			return err
		}
	}
	return nil
}

func (d *Deployment) StopServer(t ct.TestLike, hsName string) {
	t.Helper()
	t.Logf("StopServer %s", hsName)
	if err := d.hs(t, hsName, "StopServer").stop(); err != nil {
		ct.Fatalf(t, "StopServer: %s", err)
	}
}

func (d *Deployment) StartServer(t ct.TestLike, hsName string) {
	t.Helper()
	t.Logf("StartServer %s", hsName)
	if err := d.hs(t, hsName, "StartServer").start(d, d.cfg.SpawnHSTimeout); err != nil {
		ct.Fatalf(t, "StartServer: %s", err)
	}
}

func (d *Deployment) PauseServer(t ct.TestLike, hsName string) {
	t.Helper()
	t.Logf("PauseServer %s", hsName)
	if err := d.hs(t, hsName, "PauseServer").signal(syscall.SIGSTOP, true); err != nil {
		ct.Fatalf(t, "PauseServer: %s", err)
	}
}

func (d *Deployment) UnpauseServer(t ct.TestLike, hsName string) {
	t.Helper()
	t.Logf("UnpauseServer %s", hsName)
	if err := d.hs(t, hsName, "UnpauseServer").signal(syscall.SIGCONT, false); err != nil {
		ct.Fatalf(t, "UnpauseServer: %s", err)
	}
}

// ContainerID answers the process id, as there is no container.
func (d *Deployment) ContainerID(t ct.TestLike, hsName string) string {
	t.Helper()
	return fmt.Sprintf("pid-%d", d.hs(t, hsName, "ContainerID").pid())
}

func (d *Deployment) Destroy(t ct.TestLike) {
	t.Helper()
	if !d.destroyed.CompareAndSwap(false, true) {
		return
	}
	if t.Failed() || d.cfg.AlwaysPrintServerLogs {
		d.printLogs(t)
	}
	d.stopAll()
	liveMu.Lock()
	if live == d {
		live = nil
	}
	liveMu.Unlock()
	if !t.Failed() && os.Getenv("PIMATRIX_KEEP_DATA") != "1" {
		_ = os.RemoveAll(d.dir)
	}
}

func (d *Deployment) stopAll() {
	for _, s := range d.HS {
		if s.pid() != 0 {
			_ = s.stop()
		}
	}
}

func (d *Deployment) names() []string {
	names := make([]string, 0, len(d.HS))
	for i := 1; i <= maxServers; i++ {
		if _, ok := d.HS[fmt.Sprintf("hs%d", i)]; ok {
			names = append(names, fmt.Sprintf("hs%d", i))
		}
	}
	return names
}

// printLogs logs the tail of each server's log into the test output.
func (d *Deployment) printLogs(t ct.TestLike) {
	const maxLines = 200
	for _, name := range d.names() {
		s := d.HS[name]
		f, err := os.Open(s.logPath())
		if err != nil {
			continue
		}
		var lines []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > maxLines {
				lines = lines[1:]
			}
		}
		f.Close()
		t.Logf("==== last %d lines of %s's log (%s) ====\n%s", len(lines), name, s.logPath(), strings.Join(lines, "\n"))
	}
}

func (d *Deployment) GetConfig() *config.Complement { return d.cfg }

// RoundTripper sends Complement's federation requests for hsN to its TLS
// listener, and those for Complement's own servers to the loopback.
func (d *Deployment) RoundTripper() http.RoundTripper {
	return &roundTripper{d: d}
}

type roundTripper struct {
	d          *Deployment
	transports sync.Map // TLS server name -> *http.Transport
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if s, ok := rt.d.HS[host]; ok {
		req.URL.Host = s.fedHost()
	} else if host == rt.d.cfg.HostnameRunningComplement {
		// Complement's own servers: leave the address as it is.
	} else {
		return nil, fmt.Errorf("pimatrix deployer: unknown host %q", host)
	}
	req.URL.Scheme = "https"
	tr, ok := rt.transports.Load(host)
	if !ok {
		tr, _ = rt.transports.LoadOrStore(host, &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true},
			IdleConnTimeout: 5 * time.Second,
		})
	}
	return tr.(*http.Transport).RoundTrip(req)
}

func (d *Deployment) Network() string { return "" }
