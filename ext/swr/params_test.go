package swr

import (
	"errors"
	"net/url"
	"testing"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

func TestSWRParseList(t *testing.T) {
	def := domain.Sort{By: "push_time", Desc: true}
	tests := []struct {
		name    string
		query   string
		want    listQuery
		wantErr bool
	}{
		{"defaults", "", listQuery{Page: domain.Page{Limit: 100}, Sort: def}, false},
		{"plain", "offset=5&limit=10&order_column=tag&order_type=asc&tag=v1",
			listQuery{Page: domain.Page{Offset: 5, Limit: 10}, Sort: domain.Sort{By: "name"}, Filters: map[string]string{"tag": "v1"}}, false},
		{"filter", "filter=" + url.QueryEscape("offset::5|limit::10|order_column::tag|order_type::asc|tag::v1"),
			listQuery{Page: domain.Page{Offset: 5, Limit: 10}, Sort: domain.Sort{By: "name"}, Filters: map[string]string{"tag": "v1"}}, false},
		{"filter and plain agree", "filter=offset::5|limit::10&offset=5", listQuery{Page: domain.Page{Offset: 5, Limit: 10}, Sort: def}, false},
		{"updated_at DESC", "order_column=updated_at&order_type=DESC", listQuery{Page: domain.Page{Limit: 100}, Sort: domain.Sort{By: "push_time", Desc: true}}, false},
		{"empty values are absent", "offset=&limit=&tag=", listQuery{Page: domain.Page{Limit: 100}, Sort: def}, false},
		{"max limit", "offset=0&limit=1000", listQuery{Page: domain.Page{Limit: 1000}, Sort: def}, false},
		{"unknown plain keys ignored", "foo=bar", listQuery{Page: domain.Page{Limit: 100}, Sort: def}, false},

		{"offset alone", "offset=1", listQuery{}, true},
		{"limit alone", "limit=1", listQuery{}, true},
		{"order_column alone", "order_column=tag", listQuery{}, true},
		{"order_type alone", "filter=order_type::asc", listQuery{}, true},
		{"limit over max", "offset=0&limit=1001", listQuery{}, true},
		{"limit zero", "offset=0&limit=0", listQuery{}, true},
		{"negative offset", "offset=-1&limit=10", listQuery{}, true},
		{"huge offset", "offset=99999999999999999999&limit=10", listQuery{}, true},
		{"offset not a number", "offset=x&limit=10", listQuery{}, true},
		{"bad column", "order_column=size&order_type=asc", listQuery{}, true},
		{"bad order type", "order_column=tag&order_type=up", listQuery{}, true},
		{"filter item without ::", "filter=offset:0", listQuery{}, true},
		{"empty filter", "filter=", listQuery{}, true},
		{"trailing bar", "filter=tag::v1|", listQuery{}, true},
		{"unknown filter key", "filter=color::red", listQuery{}, true},
		{"duplicate filter key", "filter=tag::a|tag::b", listQuery{}, true},
		{"filter twice", "filter=tag::a&filter=tag::b", listQuery{}, true},
		{"plain twice", "tag=a&tag=b", listQuery{}, true},
		{"filter and plain disagree", "filter=tag::a&tag=b", listQuery{}, true},
		{"bad tag chars", "tag=" + url.QueryEscape("a b"), listQuery{}, true},
		{"NUL", "tag=a%00b", listQuery{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseList(q, tagSpec)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseList(%q) = %+v, want an error", tt.query, got)
				}
				if status, code, _ := classify(err); status != 400 || code != CodeBadParam {
					t.Errorf("parseList(%q) error %v maps to %d %s, want 400 %s", tt.query, err, status, code, CodeBadParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseList(%q): %v", tt.query, err)
			}
			if got.Page != tt.want.Page || got.Sort != tt.want.Sort || got.Filters["tag"] != tt.want.Filters["tag"] {
				t.Errorf("parseList(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestSWRErrorTable(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{&domain.Error{Kind: domain.ErrNotFound, Msg: "repository x/y not found"}, 404, CodeNotFound},
		{&domain.Error{Kind: domain.ErrInvalid, Msg: "bad"}, 400, CodeBadParam},
		{&domain.Error{Kind: domain.ErrAlreadyExists, Msg: "exists"}, 409, CodeExists},
		{&domain.Error{Kind: domain.ErrNotEmpty, Msg: "not empty"}, 409, CodeNotEmpty},
		{badBody("x"), 400, CodeBadBody},
		{dialect.ErrMethod, 405, CodeMethod},
		{errors.New("disk on fire"), 500, CodeInternal},
	}
	for _, tt := range tests {
		status, code, msg := classify(tt.err)
		if status != tt.status || code != tt.code {
			t.Errorf("classify(%v) = %d %s, want %d %s", tt.err, status, code, tt.status, tt.code)
		}
		if status == 500 && msg != "internal error" {
			t.Errorf("a 500 leaks %q", msg)
		}
	}
}

// classify is the table's answer to err: status, code, message.
func classify(err error) (int, string, string) {
	f := errorTable.Classify("", err)
	return f.Status, f.Code, f.Message
}
