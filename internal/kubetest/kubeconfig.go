package kubetest

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
)

// Kubeconfig returns a standard kubeconfig (YAML) with a client certificate
// for user in groups, valid until notAfter. A notAfter in the past gives a
// certificate the apiserver refuses.
func (cp *ControlPlane) Kubeconfig(user string, groups []string, notAfter time.Time) ([]byte, error) {
	certPEM, keyPEM, err := cp.ca.client(user, groups, notAfter)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	return kubeconfig(cp.host, cp.ca.certPEM, user, certPEM, keyPEM)
}

func kubeconfig(host string, caPEM []byte, user string, certPEM, keyPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: user}
	cfg.CurrentContext = "kubetest"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	return out, nil
}

// CCEKubeconfig returns a kubeconfig in the JSON form CCE's clustercert
// API answers: clusters "internalCluster" (verified against CAData) and
// "externalCluster" (insecure-skip-tls-verify), both at Host(); one user
// "user" with a client certificate in system:masters valid until notAfter;
// contexts "internal" and "external"; current-context "internal".
func (cp *ControlPlane) CCEKubeconfig(notAfter time.Time) ([]byte, error) {
	certPEM, keyPEM, err := cp.ca.client("cce-user", []string{"system:masters"}, notAfter)
	if err != nil {
		return nil, fmt.Errorf("CCE kubeconfig: %w", err)
	}
	cfg := clientcmdv1.Config{
		Kind:       "Config",
		APIVersion: "v1",
		Clusters: []clientcmdv1.NamedCluster{
			{Name: "internalCluster", Cluster: clientcmdv1.Cluster{Server: cp.host, CertificateAuthorityData: cp.ca.certPEM}},
			{Name: "externalCluster", Cluster: clientcmdv1.Cluster{Server: cp.host, InsecureSkipTLSVerify: true}},
		},
		AuthInfos: []clientcmdv1.NamedAuthInfo{
			{Name: "user", AuthInfo: clientcmdv1.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}},
		},
		Contexts: []clientcmdv1.NamedContext{
			{Name: "internal", Context: clientcmdv1.Context{Cluster: "internalCluster", AuthInfo: "user"}},
			{Name: "external", Context: clientcmdv1.Context{Cluster: "externalCluster", AuthInfo: "user"}},
		},
		CurrentContext: "internal",
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("CCE kubeconfig: %w", err)
	}
	return out, nil
}
