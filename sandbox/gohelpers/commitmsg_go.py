"""The Go source of gitops-sandbox-commitmsg (kept as a string so that it ships with the Python package)."""

SOURCE = r'''// gitops-sandbox-commitmsg renders an ImageUpdateAutomation commit message template the way
// image-automation-controller does: Go text/template with Sprig's hermetic functions, over data of the same shape.
// Input (stdin, JSON): {"template": "...", "data": {...}}. Output (stdout, JSON): {"message": "..."} or
// {"error": "...", "removedField": ".Updated"}.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

const defaultMessageTemplate = `Update from image update automation`

const sprigVersion = "v3.3.0" // the module version the wrapper's go.mod requires (sandbox.gohelpers.SPRIG_VERSION)

// NamespacedName mirrors k8s.io/apimachinery/pkg/types.NamespacedName.
type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// TypeMeta, NameMeta and ResourceIdentifier mirror kyaml's; ObjectIdentifier embeds it, as upstream's.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type NameMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type ResourceIdentifier struct {
	TypeMeta
	NameMeta
}

func (r ResourceIdentifier) GetName() string       { return r.Name }
func (r ResourceIdentifier) GetNamespace() string  { return r.Namespace }
func (r ResourceIdentifier) GetAPIVersion() string { return r.APIVersion }
func (r ResourceIdentifier) GetKind() string       { return r.Kind }

type ObjectIdentifier struct {
	ResourceIdentifier
}

type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

type ObjectChanges map[ObjectIdentifier][]Change

type Result struct {
	FileChanges map[string]ObjectChanges
}

// Changes: every distinct change, files and objects in sorted order (upstream's order is Go's map order).
func (r Result) Changes() []Change {
	seen := map[Change]struct{}{}
	var result []Change
	files := make([]string, 0, len(r.FileChanges))
	for file := range r.FileChanges {
		files = append(files, file)
	}
	sort.Strings(files)
	for _, file := range files {
		objects := r.FileChanges[file]
		ids := make([]ObjectIdentifier, 0, len(objects))
		for id := range objects {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return key(ids[i]) < key(ids[j]) })
		for _, id := range ids {
			for _, change := range objects[id] {
				if _, ok := seen[change]; !ok {
					seen[change] = struct{}{}
					result = append(result, change)
				}
			}
		}
	}
	return result
}

func key(id ObjectIdentifier) string {
	return strings.Join([]string{id.APIVersion, id.Kind, id.Namespace, id.Name}, "\x00")
}

// Objects: the changes of every object, whatever file it is in.
func (r Result) Objects() ObjectChanges {
	result := ObjectChanges{}
	for _, objects := range r.FileChanges {
		for id, changes := range objects {
			result[id] = changes
		}
	}
	return result
}

type TemplateData struct {
	AutomationObject NamespacedName
	Changed          Result
	Values           map[string]string
}

type objectInput struct {
	Object  ResourceIdentifier `json:"object"`
	Changes []Change           `json:"changes"`
}

type input struct {
	Template string `json:"template"`
	Data     struct {
		AutomationObject NamespacedName          `json:"automationObject"`
		FileChanges      map[string][]objectInput `json:"fileChanges"`
		Values           map[string]string       `json:"values"`
	} `json:"data"`
}

type output struct {
	Message      *string `json:"message,omitempty"`
	Error        string  `json:"error,omitempty"`
	RemovedField string  `json:"removedField,omitempty"`
}

// upstreamNames: Go names the types by package; upstream's live in packages source and update.
var upstreamNames = strings.NewReplacer("main.TemplateData", "source.TemplateData", "main.Result", "update.Result",
	"main.ObjectChanges", "update.ObjectChanges", "main.Change", "update.Change",
	"main.ObjectIdentifier", "update.ObjectIdentifier", "main.NamespacedName", "types.NamespacedName")

var removedFields = []struct{ field, pattern string }{
	{".Updated", "can't evaluate field Updated in type source.TemplateData"},
	{".Changed.ImageResult", "can't evaluate field ImageResult in type update.Result"},
}

func render(in input) output {
	text := in.Template
	if text == "" {
		text = defaultMessageTemplate
	}
	data := TemplateData{AutomationObject: in.Data.AutomationObject, Values: in.Data.Values}
	if len(in.Data.FileChanges) > 0 {
		data.Changed.FileChanges = map[string]ObjectChanges{}
		for file, objects := range in.Data.FileChanges {
			changes := ObjectChanges{}
			for _, object := range objects {
				id := ObjectIdentifier{object.Object}
				changes[id] = append(changes[id], object.Changes...)
			}
			data.Changed.FileChanges[file] = changes
		}
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(text)
	if err != nil {
		message := fmt.Sprintf("unable to create commit message template from spec: %s", err)
		return output{Error: upstreamNames.Replace(message)}
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		message := upstreamNames.Replace(err.Error())
		for _, removed := range removedFields {
			if strings.Contains(message, removed.pattern) {
				return output{Error: message, RemovedField: removed.field}
			}
		}
		return output{Error: "failed to run template from spec: " + message}
	}
	message := b.String()
	return output{Message: &message}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Printf("gitops-sandbox-commitmsg (Go text/template, Sprig %s, %s)\n", sprigVersion, runtime.Version())
		return
	}
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "gitops-sandbox-commitmsg: reading the JSON input: %s\n", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(render(in)); err != nil {
		fmt.Fprintf(os.Stderr, "gitops-sandbox-commitmsg: %s\n", err)
		os.Exit(2)
	}
}
'''
