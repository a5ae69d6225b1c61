package main

// IAM checks with google.golang.org/api/iam/v1 (the generated REST client), pointed at the
// emulator with option.WithEndpoint and authenticated with the owner's key file (whose token_uri
// is the emulator's /token; golang.org/x/oauth2/google and cloud.google.com/go/auth honour it).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
)

func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

func runIAM(e env) {
	ctx := context.Background()
	//lint:ignore SA1019 the key file is the emulator's own.
	svc, err := iam.NewService(ctx, option.WithEndpoint(e.endpoint+"/"), option.WithCredentialsFile(e.adminKeyFile))
	if err != nil {
		fail("go.iam.client", "%v", err)
		return
	}
	project := "projects/" + e.project
	accountID := randomName("conf")
	email := accountID + "@" + e.project + ".iam.gserviceaccount.com"
	saName := project + "/serviceAccounts/" + email
	var keyName string
	var keyJSON []byte

	if !check("go.iam.sa-create", 30*time.Second, func(ctx context.Context) (string, error) {
		sa, err := svc.Projects.ServiceAccounts.Create(project, &iam.CreateServiceAccountRequest{
			AccountId:      accountID,
			ServiceAccount: &iam.ServiceAccount{DisplayName: "conformance", Description: "conformance suite"},
		}).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		if sa.Email != email || sa.Name != saName || sa.UniqueId == "" || sa.ProjectId != e.project {
			return "", fmt.Errorf("got email %q name %q uniqueId %q projectId %q", sa.Email, sa.Name, sa.UniqueId, sa.ProjectId)
		}
		return sa.Name, nil
	}) {
		return
	}

	check("go.iam.sa-get", 30*time.Second, func(ctx context.Context) (string, error) {
		sa, err := svc.Projects.ServiceAccounts.Get(saName).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		if sa.Email != email || sa.DisplayName != "conformance" || sa.Description != "conformance suite" {
			return "", fmt.Errorf("got email %q displayName %q description %q", sa.Email, sa.DisplayName, sa.Description)
		}
		// The wildcard project form the API documents ("projects/-/serviceAccounts/EMAIL").
		sa2, err := svc.Projects.ServiceAccounts.Get("projects/-/serviceAccounts/" + email).Context(ctx).Do()
		if err != nil {
			return "", fmt.Errorf("get via projects/-: %w", err)
		}
		if sa2.UniqueId != sa.UniqueId {
			return "", fmt.Errorf("projects/- returned uniqueId %q, want %q", sa2.UniqueId, sa.UniqueId)
		}
		return sa.Email + " uniqueId " + sa.UniqueId, nil
	})

	check("go.iam.key-create", 30*time.Second, func(ctx context.Context) (string, error) {
		k, err := svc.Projects.ServiceAccounts.Keys.Create(saName, &iam.CreateServiceAccountKeyRequest{}).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		keyName = k.Name
		if !strings.HasPrefix(k.Name, saName+"/keys/") {
			return "", fmt.Errorf("key name %q does not start with %s/keys/", k.Name, saName)
		}
		raw, err := base64.StdEncoding.DecodeString(k.PrivateKeyData)
		if err != nil {
			return "", fmt.Errorf("privateKeyData is not standard base64: %w", err)
		}
		var f map[string]string
		if err := json.Unmarshal(raw, &f); err != nil {
			return "", fmt.Errorf("privateKeyData is not a JSON key file: %w", err)
		}
		if f["type"] != "service_account" || f["client_email"] != email || f["private_key_id"] != k.Name[strings.LastIndex(k.Name, "/")+1:] {
			return "", fmt.Errorf("key file type %q client_email %q private_key_id %q", f["type"], f["client_email"], f["private_key_id"])
		}
		keyJSON = raw
		return fmt.Sprintf("%s (%s, %s)", k.Name, k.KeyAlgorithm, k.PrivateKeyType), nil
	})

	check("go.iam.key-usable", 30*time.Second, func(ctx context.Context) (string, error) {
		if keyJSON == nil {
			return "", errors.New("no key from key-create")
		}
		// What CockroachDB's older releases did with CREDENTIALS: google.JWTConfigFromJSON + TokenSource.
		cfg, err := google.JWTConfigFromJSON(keyJSON, "https://www.googleapis.com/auth/devstorage.read_write")
		if err != nil {
			return "", err
		}
		tok, err := cfg.TokenSource(ctx).Token()
		if err != nil {
			return "", fmt.Errorf("token exchange at %s: %w", cfg.TokenURL, err)
		}
		return fmt.Sprintf("token from %s (type %s)", cfg.TokenURL, tok.TokenType), nil
	})

	check("go.iam.key-list", 30*time.Second, func(ctx context.Context) (string, error) {
		res, err := svc.Projects.ServiceAccounts.Keys.List(saName).KeyTypes("USER_MANAGED").Context(ctx).Do()
		if err != nil {
			return "", err
		}
		var names []string
		for _, k := range res.Keys {
			names = append(names, k.Name)
			if k.PrivateKeyData != "" {
				return "", fmt.Errorf("list returned privateKeyData for %s", k.Name)
			}
		}
		for _, n := range names {
			if n == keyName {
				return fmt.Sprintf("%d user-managed key(s)", len(names)), nil
			}
		}
		return "", fmt.Errorf("key %s not in list %v", keyName, names)
	})

	check("go.iam.key-get-x509", 30*time.Second, func(ctx context.Context) (string, error) {
		k, err := svc.Projects.ServiceAccounts.Keys.Get(keyName).PublicKeyType("TYPE_X509_PEM_FILE").Context(ctx).Do()
		if err != nil {
			return "", err
		}
		raw, err := base64.StdEncoding.DecodeString(k.PublicKeyData)
		if err != nil {
			return "", fmt.Errorf("publicKeyData is not base64: %w", err)
		}
		block, _ := pem.Decode(raw)
		if block == nil || block.Type != "CERTIFICATE" {
			t := "no PEM block"
			if block != nil {
				t = "PEM type " + block.Type
			}
			return "", fmt.Errorf("publicKeyType=TYPE_X509_PEM_FILE returned %s, want an X.509 CERTIFICATE", t)
		}
		return "X.509 certificate", nil
	})

	roleID := strings.ReplaceAll(randomName("conf_role"), "-", "_")
	roleName := project + "/roles/" + roleID
	check("go.iam.role-create", 30*time.Second, func(ctx context.Context) (string, error) {
		r, err := svc.Projects.Roles.Create(project, &iam.CreateRoleRequest{
			RoleId: roleID,
			Role:   &iam.Role{Title: "Conformance", Description: "conformance suite", IncludedPermissions: []string{"storage.objects.create"}, Stage: "GA"},
		}).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		if r.Name != roleName || len(r.IncludedPermissions) != 1 || r.IncludedPermissions[0] != "storage.objects.create" || r.Stage != "GA" || r.Etag == "" {
			return "", fmt.Errorf("got name %q permissions %v stage %q etag %q", r.Name, r.IncludedPermissions, r.Stage, r.Etag)
		}
		return r.Name, nil
	})
	check("go.iam.role-get", 30*time.Second, func(ctx context.Context) (string, error) {
		r, err := svc.Projects.Roles.Get(roleName).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		if r.Title != "Conformance" || r.Deleted {
			return "", fmt.Errorf("got title %q deleted %v", r.Title, r.Deleted)
		}
		return r.Name, nil
	})
	check("go.iam.role-delete", 30*time.Second, func(ctx context.Context) (string, error) {
		r, err := svc.Projects.Roles.Delete(roleName).Context(ctx).Do()
		if err != nil {
			return "", err
		}
		if !r.Deleted {
			return "", fmt.Errorf("delete returned deleted=%v, want true (soft delete)", r.Deleted)
		}
		g, err := svc.Projects.Roles.Get(roleName).Context(ctx).Do()
		if err != nil {
			return "", fmt.Errorf("get after delete: %w", err)
		}
		if !g.Deleted {
			return "", fmt.Errorf("get after delete: deleted=%v, want true", g.Deleted)
		}
		return "soft-deleted", nil
	})
	check("go.iam.key-delete", 30*time.Second, func(ctx context.Context) (string, error) {
		if _, err := svc.Projects.ServiceAccounts.Keys.Delete(keyName).Context(ctx).Do(); err != nil {
			return "", err
		}
		_, err := svc.Projects.ServiceAccounts.Keys.Get(keyName).Context(ctx).Do()
		if !isStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("get after delete: %v, want 404", err)
		}
		return "deleted; get → 404", nil
	})
	check("go.iam.sa-delete", 30*time.Second, func(ctx context.Context) (string, error) {
		if _, err := svc.Projects.ServiceAccounts.Delete(saName).Context(ctx).Do(); err != nil {
			return "", err
		}
		_, err := svc.Projects.ServiceAccounts.Get(saName).Context(ctx).Do()
		if !isStatus(err, http.StatusNotFound) {
			return "", fmt.Errorf("get after delete: %v, want 404", err)
		}
		return "deleted; get → 404", nil
	})
}
