package metadata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ChartVersion is one Helm chart version: a chart manifest in the index.
type ChartVersion struct {
	ArtifactID   int64
	RepositoryID int64
	ProjectID    int64
	Project      string // filled by reads
	Name         string
	Version      string
	Tag          string // the OCI tag naming the version (+ as _)
	AppVersion   string
	Description  string
	Home         string
	Icon         string
	Keywords     []string
	Maintainers  []map[string]string
	Deprecated   bool
	Created      time.Time
	ChartDigest  string // sha256 of the .tgz layer
	ChartSize    int64
	ProvDigest   string // "" without a provenance layer
	ProvSize     int64
	Metadata     json.RawMessage // Chart.yaml as helm's config JSON
	Digest       string          // the manifest's, filled by reads
	PushTime     time.Time       // the tag's, filled by reads
}

// ChartFilter selects live chart versions.
type ChartFilter struct {
	ProjectIDs []int64 // nil: all projects
	ProjectID  int64   // 0: any
	Name       string  // exact chart name; "" any
	NameHas    string  // substring of the chart name
	Version    string  // exact version; "" any
}

// PutChartVersion records (or refreshes) the chart an artifact holds and
// bumps its project's chart generation.
func (db *DB) PutChartVersion(ctx context.Context, cv ChartVersion) error {
	kw, _ := json.Marshal(nonNil(cv.Keywords))
	mt, _ := json.Marshal(nonNilMaps(cv.Maintainers))
	meta := string(cv.Metadata)
	if meta == "" {
		meta = "{}"
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO chart_versions (artifact_id, repository_id, project_id, name, version, tag,
			app_version, description, home, icon, keywords, maintainers, deprecated, created, chart_digest, chart_size,
			prov_digest, prov_size, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (artifact_id) DO UPDATE SET created = excluded.created`),
			cv.ArtifactID, cv.RepositoryID, cv.ProjectID, cv.Name, cv.Version, cv.Tag, cv.AppVersion, cv.Description,
			cv.Home, cv.Icon, string(kw), string(mt), cv.Deprecated, millis(cv.Created), cv.ChartDigest, cv.ChartSize,
			cv.ProvDigest, cv.ProvSize, meta)
		if err != nil {
			return fmt.Errorf("metadata: put chart %s-%s: %w", cv.Name, cv.Version, err)
		}
		return bumpCharts(ctx, db, tx, cv.ProjectID)
	})
}

func bumpCharts(ctx context.Context, db *DB, q querier, projectID int64) error {
	_, err := q.ExecContext(ctx, db.q(`INSERT INTO chart_repos (project_id, generation) VALUES (?, 1)
		ON CONFLICT (project_id) DO UPDATE SET generation = chart_repos.generation + 1`), projectID)
	return err
}

// TouchCharts bumps the chart generation of the project holding repo, if
// that project has ever held a chart: tags moved, manifests and
// repositories deleted there may change what its chart repository shows.
func (db *DB) TouchCharts(ctx context.Context, project string) error {
	// Most projects never held a chart: a read answers, and no write (which
	// would queue for the write lock on SQLite) is made. A chart pushed
	// after this read bumps the generation itself.
	var one int
	err := db.hot(ctx, db.sql).QueryRow(`SELECT 1 FROM chart_repos
		WHERE project_id = (SELECT id FROM projects WHERE name = ?)`, project).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = db.exec(ctx, `UPDATE chart_repos SET generation = generation + 1
		WHERE project_id = (SELECT id FROM projects WHERE name = ?)`, project)
	return err
}

// TouchAllCharts bumps every project's chart generation (after a reindex).
func (db *DB) TouchAllCharts(ctx context.Context) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE chart_repos SET generation = generation + 1`)
	return err
}

// ChartGeneration is the project's chart change counter (0: never a chart).
func (db *DB) ChartGeneration(ctx context.Context, projectID int64) (int64, error) {
	var g int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT generation FROM chart_repos WHERE project_id = ?`), projectID).Scan(&g)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return g, err
}

const chartCols = `cv.artifact_id, cv.repository_id, cv.project_id, p.name, cv.name, cv.version, cv.tag, cv.app_version,
	cv.description, cv.home, cv.icon, cv.keywords, cv.maintainers, cv.deprecated, cv.created, cv.chart_digest,
	cv.chart_size, cv.prov_digest, cv.prov_size, a.digest, t.push_time`

// liveCharts joins chart rows with the tag naming their version in a
// repository <project>/<name>: only such versions are in the chart repo.
const liveCharts = ` FROM chart_versions cv
	JOIN tags t ON t.repository_id = cv.repository_id AND t.name = cv.tag AND t.artifact_id = cv.artifact_id
	JOIN artifacts a ON a.id = cv.artifact_id
	JOIN repositories r ON r.id = cv.repository_id
	JOIN projects p ON p.id = cv.project_id `

// ChartVersions lists live chart versions, ordered by project and chart
// name (versions in no particular order: callers sort by SemVer). With
// withMeta, Metadata is filled.
func (db *DB) ChartVersions(ctx context.Context, f ChartFilter, withMeta bool) ([]ChartVersion, error) {
	where := []string{"r.name = p.name || '/' || cv.name"}
	var args []any
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			return nil, nil
		}
		where = append(where, "cv.project_id IN ("+placeholders(len(f.ProjectIDs))+")")
		for _, id := range f.ProjectIDs {
			args = append(args, id)
		}
	}
	if f.ProjectID != 0 {
		where, args = append(where, "cv.project_id = ?"), append(args, f.ProjectID)
	}
	if f.Name != "" {
		where, args = append(where, "cv.name = ?"), append(args, f.Name)
	}
	if f.NameHas != "" {
		where, args = append(where, db.d.contains("cv.name")), append(args, f.NameHas)
	}
	if f.Version != "" {
		where, args = append(where, "cv.version = ?"), append(args, f.Version)
	}
	cols := chartCols
	if withMeta {
		cols += ", cv.metadata"
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+cols+liveCharts+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY p.name, cv.name`), args...)
	if err != nil {
		return nil, fmt.Errorf("metadata: chart versions: %w", err)
	}
	defer rows.Close()
	var out []ChartVersion
	for rows.Next() {
		var cv ChartVersion
		var kw, mt, meta string
		var dep boolish
		var created, push int64
		dst := []any{&cv.ArtifactID, &cv.RepositoryID, &cv.ProjectID, &cv.Project, &cv.Name, &cv.Version, &cv.Tag,
			&cv.AppVersion, &cv.Description, &cv.Home, &cv.Icon, &kw, &mt, &dep, &created, &cv.ChartDigest,
			&cv.ChartSize, &cv.ProvDigest, &cv.ProvSize, &cv.Digest, &push}
		if withMeta {
			dst = append(dst, &meta)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("metadata: chart versions: %w", err)
		}
		_ = json.Unmarshal([]byte(kw), &cv.Keywords)
		_ = json.Unmarshal([]byte(mt), &cv.Maintainers)
		cv.Deprecated, cv.Created, cv.PushTime = bool(dep), fromMillis(created), fromMillis(push)
		if withMeta {
			cv.Metadata = json.RawMessage(meta)
		}
		out = append(out, cv)
	}
	return out, rows.Err()
}

// ChartArtifactDigests maps every recorded chart artifact of a repository
// (live or not) by manifest digest to its chart digest, for check.
func (db *DB) ChartArtifactDigests(ctx context.Context, repoID int64) (map[string]string, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT a.digest, cv.chart_digest FROM chart_versions cv
		JOIN artifacts a ON a.id = cv.artifact_id WHERE cv.repository_id = ?`), repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, c string
		if err := rows.Scan(&d, &c); err != nil {
			return nil, err
		}
		out[d] = c
	}
	return out, rows.Err()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMaps(s []map[string]string) []map[string]string {
	if s == nil {
		return []map[string]string{}
	}
	return s
}
