"""``sandbox repo …``: repositories, webhooks and pull requests on the sandbox's git server."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sandbox import config
from sandbox.cli import output
from sandbox.cli.common import NAME_OPTION
from sandbox.errors import InputError
from sandbox.git import repo as repos
from sandbox.git import service
from sandbox.git.base import GitServer, PullRequest
from sandbox.state import StateDir


def _state(name: str | None) -> StateDir:
    return StateDir(config.resolve_name(name))


def _server(name: str | None) -> GitServer:
    return service.connect(_state(name))


@click.group()
def repo() -> None:
    """Repositories on the sandbox's git server (local smart-HTTP server, or Gitea).

    The token is the password for git over HTTP (any user name); it is printed only by `sandbox repo token
    --show`. Clones made by `sandbox repo clone` push and pull without asking for it.

    \b
    Examples:
      sandbox repo create fleet-infra --from ./fleet    # a private repository with a first commit
      sandbox repo clone fleet-infra                    # a working copy in ./fleet-infra
      sandbox repo url fleet-infra                      # its clone URL
      sandbox repo hook add fleet-infra http://127.0.0.1:9292/hook/abc --secret-env HOOK_SECRET
      sandbox repo pr list fleet-infra                  # its pull requests
    """


@repo.command()
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.option("--public", is_flag=True, help="Anyone may fetch it without the token (pushing still needs it).")
@click.option("--from", "source", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Push the files of this directory as the first commit (its .git is ignored).")
@click.option("--default-branch", default="main", show_default=True, help="The repository's default branch.")
def create(name: str | None, repository: str, public: bool, source: Path | None, default_branch: str) -> None:
    """Create repository REPO (private unless --public), optionally seeded from a directory.

    \b
    Example:
      sandbox repo create fleet-infra --from ./fleet
    """
    server = _server(name)
    created = server.create_repo(repository, public=public, default_branch=default_branch)
    if source is not None:
        sha = repos.seed_from_dir(server, repository, source)
        output.success(f"created {created.full_name} with {source} as commit {sha[:12]} on {default_branch}")
    else:
        output.success(f"created {created.full_name} ({'public' if public else 'private'})")
    output.info(f"  clone URL: {created.clone_url}")


@repo.command(name="list")
@NAME_OPTION
@output.OUTPUT_OPTION
def list_(name: str | None, output_format: str) -> None:
    """List the repositories: visibility, default branch, clone URL."""
    found = _server(name).list_repos()
    if output_format != "table":
        output.emit_data([r.to_dict() for r in found], output_format)
        return
    output.table(["NAME", "VISIBILITY", "BRANCH", "EMPTY", "CLONE URL"],
                 [[r.name, "private" if r.private else "public", r.default_branch, "yes" if r.empty else "no",
                   r.clone_url] for r in found])


@repo.command()
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@click.option("--branch", default=None, help="Check out this branch instead of the default one.")
def clone(name: str | None, repository: str, directory: Path | None, branch: str | None) -> None:
    """Clone REPO into DIRECTORY (default ./REPO); plain git push/pull then work in it.

    The working copy gets a credential helper that reads the sandbox's token file when git asks, so the token
    is stored nowhere in it.

    \b
    Example:
      sandbox repo clone fleet-infra && cd fleet-infra && git log
    """
    state = _state(name)
    server = service.connect(state)
    target = directory or Path(repository)
    copy = repos.clone(server, repository, target, branch=branch)
    repos.remember_credentials(copy, token_file=service.token_file(state))
    output.success(f"cloned {server.owner}/{repository} into {target}")


@repo.command()
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.option("--in-cluster", is_flag=True, help="The URL as seen from inside the cluster (for GitRepository).")
@output.OUTPUT_OPTION
def url(name: str | None, repository: str, in_cluster: bool, output_format: str) -> None:
    """Print the HTTP clone URL of REPO (it need not exist yet).

    \b
    Example:
      flux create source git app --url "$(sandbox repo url app --in-cluster)" --branch main
    """
    server = _server(name)
    if output_format != "table":
        output.emit_data({"name": repository, "url": server.clone_url(repository),
                          "cluster_url": server.clone_url(repository, in_cluster=True)}, output_format)
        return
    click.echo(server.clone_url(repository, in_cluster=in_cluster))


@repo.command()
@NAME_OPTION
@click.argument("repository", metavar="REPO")
def delete(name: str | None, repository: str) -> None:
    """Delete REPO and its webhooks."""
    server = _server(name)
    server.delete_repo(repository)
    output.success(f"deleted {server.owner}/{repository}")


@repo.command()
@NAME_OPTION
@click.option("--show", is_flag=True, help="Print the token itself (otherwise only where it is kept).")
@output.OUTPUT_OPTION
def token(name: str | None, show: bool, output_format: str) -> None:
    """Where the git token is (user name and token file), and with --show the token itself.

    \b
    Example:
      git clone "http://sandbox:$(sandbox repo token --show)@127.0.0.1:PORT/sandbox/app.git"
    """
    state = _state(name)
    server = service.connect(state)
    data = {"username": server.owner, "token_file": str(service.token_file(state))}
    if show:
        data["token"] = server.token()
    if output_format != "table":
        output.emit_data(data, output_format)
    elif show:
        click.echo(server.token())
    else:
        output.table(["USERNAME", "TOKEN FILE"], [[data["username"], data["token_file"]]])


class _PullRequestGroup(click.Group):
    """`sandbox repo pr REPO --head …` (the command before the group existed) still means `pr create`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


@repo.group(name="pr", cls=_PullRequestGroup)
def pull_request() -> None:
    """Pull requests, on the local git server and on Gitea alike (Gitea's pull-request API).

    An AGit push opens one too: `git push -o topic=NAME origin HEAD:refs/for/main` (what an
    ImageUpdateAutomation with `git.push.refspec: refs/heads/flux-updates:refs/for/main` does).

    \b
    Examples:
      sandbox repo pr create fleet-infra --head bump-app --title "Bump app to 1.2.0"
      sandbox repo pr list fleet-infra --state all
      sandbox repo pr show fleet-infra 1 -o yaml
      sandbox repo pr merge fleet-infra 1 --style squash --delete-branch
      sandbox repo pr close fleet-infra 2
    """


def _pull_rows(pulls: list[PullRequest]) -> list[list[object]]:
    return [[p.number, _pull_state(p), p.head, p.base, p.head_sha[:12], p.title] for p in pulls]


def _pull_state(pull: PullRequest) -> str:
    return "merged" if pull.merged else pull.state


@pull_request.command(name="create")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.option("--head", required=True, help="The branch with the changes.")
@click.option("--base", default=None, help="The branch to merge into (default: the repository's default).")
@click.option("--title", required=True)
@click.option("--body", default="")
@output.OUTPUT_OPTION
def pr_create(name: str | None, repository: str, head: str, base: str | None, title: str, body: str,
              output_format: str) -> None:
    """Open a pull request from branch --head into --base.

    \b
    Example:
      sandbox repo pr create fleet-infra --head bump-app --title "Bump app to 1.2.0"
    """
    opened = repos.open_pull_request(_server(name), repository, head=head, base=base, title=title, body=body)
    if output_format != "table":
        output.emit_data(opened.to_dict(), output_format)
        return
    output.success(f"opened pull request #{opened.number}: {opened.html_url}")


@pull_request.command(name="list")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.option("--state", type=click.Choice(["open", "closed", "all"]), default="open", show_default=True)
@output.OUTPUT_OPTION
def pr_list(name: str | None, repository: str, state: str, output_format: str) -> None:
    """List REPO's pull requests, newest first.

    \b
    Example:
      sandbox repo pr list fleet-infra --state all -o json
    """
    pulls = _server(name).list_pull_requests(repository, state=state)
    if output_format != "table":
        output.emit_data([p.to_dict() for p in pulls], output_format)
        return
    output.table(["#", "STATE", "HEAD", "BASE", "HEAD COMMIT", "TITLE"], _pull_rows(pulls))


@pull_request.command(name="show")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("number", metavar="NUMBER", type=int)
@output.OUTPUT_OPTION
def pr_show(name: str | None, repository: str, number: int, output_format: str) -> None:
    """Show pull request NUMBER of REPO: state, branches and commits, mergeability, and its comments (those of a
    `giteapullrequestcomment` notification Provider among them).

    \b
    Example:
      sandbox repo pr show fleet-infra 1 -o yaml
    """
    server = _server(name)
    pull = server.get_pull_request(repository, number)
    comments = server.list_pull_request_comments(repository, number)
    if output_format != "table":
        output.emit_data({**pull.to_dict(), "comments": [c.to_dict() for c in comments]}, output_format)
        return
    output.table(["FIELD", "VALUE"], [
        ["number", pull.number], ["title", pull.title], ["state", _pull_state(pull)],
        ["head", f"{pull.head} ({pull.head_sha[:12]})"], ["base", f"{pull.base} ({pull.base_sha[:12]})"],
        ["mergeable", "yes" if pull.mergeable else "no"], ["merge commit", pull.merge_commit_sha or "-"],
        ["author", pull.user], ["created", pull.created_at], ["updated", pull.updated_at], ["url", pull.html_url],
    ])
    if pull.body:
        click.echo(pull.body)
    for comment in comments:
        edited = f", edited {comment.updated_at}" if comment.updated_at != comment.created_at else ""
        click.echo(f"\n--- comment {comment.id} by {comment.user} ({comment.created_at}{edited})\n{comment.body}")


@pull_request.command(name="merge")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("number", metavar="NUMBER", type=int)
@click.option("--style", type=click.Choice(["merge", "squash", "fast-forward-only", "rebase", "rebase-merge"]),
              default="merge", show_default=True,
              help="How to merge (Gitea's `Do`); the local server does merge, squash and fast-forward-only.")
@click.option("--title", default="", help="The merge commit's title (default: Gitea's).")
@click.option("--message", default="", help="The merge commit's message body.")
@click.option("--delete-branch", is_flag=True, help="Delete the head branch after merging.")
def pr_merge(name: str | None, repository: str, number: int, style: str, title: str, message: str,
             delete_branch: bool) -> None:
    """Merge pull request NUMBER of REPO; the base branch moves and its push webhooks fire.

    \b
    Example:
      sandbox repo pr merge fleet-infra 1 --style squash --delete-branch
    """
    merged = _server(name).merge_pull_request(repository, number, style=style, title=title, message=message,
                                               delete_branch=delete_branch)
    output.success(f"merged pull request #{merged.number} into {merged.base}"
                   + (f" as {merged.merge_commit_sha[:12]}" if merged.merge_commit_sha else ""))


@pull_request.command(name="close")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("number", metavar="NUMBER", type=int)
def pr_close(name: str | None, repository: str, number: int) -> None:
    """Close pull request NUMBER of REPO without merging it.

    \b
    Example:
      sandbox repo pr close fleet-infra 2
    """
    closed = _server(name).set_pull_request_state(repository, number, "closed")
    output.success(f"closed pull request #{closed.number}")


@pull_request.command(name="reopen")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("number", metavar="NUMBER", type=int)
def pr_reopen(name: str | None, repository: str, number: int) -> None:
    """Reopen closed (not merged) pull request NUMBER of REPO."""
    opened = _server(name).set_pull_request_state(repository, number, "open")
    output.success(f"reopened pull request #{opened.number}")


@repo.group()
def hook() -> None:
    """Webhooks: push and pull-request events (Gitea payloads, Gitea and GitHub headers, HMAC-SHA256 signature)."""


@hook.command(name="add")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("hook_url", metavar="URL")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the HMAC secret (first line).")
@click.option("--secret-env", default=None, metavar="VAR",
              help="Environment variable holding the HMAC secret (keeps it out of argv and shell history).")
@click.option("--event", "events", multiple=True, default=("push",), show_default=True,
              type=click.Choice(["push", "pull_request", "pull_request_sync"]),
              help="Events to send (repeat it); pull_request covers all pull-request actions.")
def hook_add(name: str | None, repository: str, hook_url: str, secret_file: Path | None,
             secret_env: str | None, events: tuple[str, ...]) -> None:
    """Send REPO's push (and, with --event, pull-request) events to URL, signed when a secret is given.

    \b
    Example:
      HOOK_SECRET=s3cret sandbox repo hook add fleet-infra http://127.0.0.1:9292/hook/abc --secret-env HOOK_SECRET
      sandbox repo hook add fleet-infra http://127.0.0.1:9292/prs --event pull_request
    """
    secret = ""
    if secret_file is not None and secret_env is not None:
        raise InputError("give the secret once: --secret-file or --secret-env")
    if secret_file is not None:
        lines = secret_file.read_text().splitlines()
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise InputError(f"--secret-file {secret_file}: the file is empty; put the secret on its first line")
    elif secret_env is not None:
        secret = os.environ.get(secret_env, "")
        if not secret:
            raise InputError(f"--secret-env {secret_env}: that environment variable is not set or empty")
    created = _server(name).register_webhook(repository, hook_url, secret, events=tuple(events))
    output.success(f"webhook {created.id} sends {', '.join(created.events)} events of {repository} to {created.url}"
                   + ("" if secret else " (unsigned: no secret given)"))


@hook.command(name="list")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@output.OUTPUT_OPTION
def hook_list(name: str | None, repository: str, output_format: str) -> None:
    """List REPO's webhooks (secrets are never shown)."""
    hooks = _server(name).list_webhooks(repository)
    if output_format != "table":
        output.emit_data([h.to_dict() for h in hooks], output_format)
        return
    output.table(["ID", "URL", "EVENTS", "ACTIVE"],
                 [[h.id, h.url, ",".join(h.events), "yes" if h.active else "no"] for h in hooks])


@hook.command(name="delete")
@NAME_OPTION
@click.argument("repository", metavar="REPO")
@click.argument("hook_id", metavar="ID", type=int)
def hook_delete(name: str | None, repository: str, hook_id: int) -> None:
    """Remove webhook ID from REPO."""
    _server(name).delete_webhook(repository, hook_id)
    output.success(f"deleted webhook {hook_id} of {repository}")


@hook.command(name="deliveries")
@NAME_OPTION
@click.argument("repository", metavar="REPO", required=False)
@output.OUTPUT_OPTION
def hook_deliveries(name: str | None, repository: str | None, output_format: str) -> None:
    """The local server's webhook delivery log: one row per attempt (retries included)."""
    entries = service.webhook_deliveries(_state(name), repository)
    if output_format != "table":
        output.emit_data(entries, output_format)
        return
    output.table(["DELIVERY", "REPO", "HOOK", "REF", "ATTEMPT", "OUTCOME", "STATUS", "MS", "URL"],
                 [[e["delivery"][:8], e["repo"], e["hook_id"], e.get("ref", ""), e["attempt"], e["outcome"],
                   e.get("status") or e.get("error", ""), e["duration_ms"], e["url"]] for e in entries])


COMMANDS = [repo]
