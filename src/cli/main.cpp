// bucketcache: look into and look after a bucket (docs/cli.md, docs/bucketcache.1).
#include <CLI/CLI.hpp>
#include <iostream>

#include "bucketcache/error.hpp"
#include "bucketcache/version.hpp"
#include "cli/cli.hpp"

namespace cli = bucketcache::cli;

namespace {

void add_bucket(CLI::App* cmd, std::string& bucket) {
  cmd->add_option("BUCKET", bucket, "bucket directory, or a store URL (redis://...) with --bucket")
      ->required();
}

void add_filters(CLI::App* cmd, cli::Filters& f, const char* what) {
  cmd->add_option("--backend", f.backend, std::string("only entries of this backend") + what);
  cmd->add_option("--key-format", f.key_format,
                  std::string("only entries of this key format (json, raw)") + what);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bucketcache: look into and look after a bucketcache bucket", "bucketcache"};
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", std::string(bucketcache::version_string()));
  cli::GlobalOptions g;
  bool quiet = false, progress = false;
  app.add_flag("--json", g.json, "machine-readable output (JSON on stdout)");
  app.add_flag("-q,--quiet", quiet, "no progress bar");
  app.add_flag("--progress", progress, "a progress bar on stderr even when it is not a terminal");
  app.add_option("--bucket", g.bucket_name, "the bucket's name, with a store URL");
  std::string bucket;

  cli::LsOptions ls;
  auto* ls_cmd = app.add_subcommand("ls", "list entries: key, backend, key format, size, times");
  add_bucket(ls_cmd, bucket);
  add_filters(ls_cmd, ls.filters, "");
  ls_cmd->add_flag("--expired", ls.expired_only, "only entries past their expiry");
  ls_cmd->add_option("--sort", ls.sort, "order: key (default), size, created, expires")
      ->check(CLI::IsMember({"key", "size", "created", "expires"}));

  cli::ShowOptions show;
  auto* show_cmd = app.add_subcommand("show", "one entry: header fields and the value");
  add_bucket(show_cmd, bucket);
  show_cmd
      ->add_option("KEY", show.key,
                   "the key: JSON text (json keys), raw text with --raw-key, or a digest "
                   "with --digest")
      ->required();
  show_cmd->add_option("--backend", show.backend, "the entry's backend (default json)");
  show_cmd->add_option("--key-format", show.key_format, "the key format: json (default) or raw")
      ->check(CLI::IsMember({"json", "raw"}));
  show_cmd->add_flag("--raw-key", show.raw_key, "KEY is raw bytes (same as --key-format raw)");
  show_cmd->add_flag("--digest", show.digest, "KEY is the entry's 64-hex digest (as ls shows it)");
  show_cmd->add_flag("--hex", show.hex, "print the value as hex bytes");

  cli::Filters stats_f;
  auto* stats_cmd =
      app.add_subcommand("stats", "entries, bytes, by backend, expired, corrupt, shard spread");
  add_bucket(stats_cmd, bucket);
  add_filters(stats_cmd, stats_f, " (corrupt counts stay whole-bucket)");

  bool fix = false;
  auto* verify_cmd = app.add_subcommand(
      "verify", "check every entry (header, checksums, name = digest of the key); exit 1 if bad");
  add_bucket(verify_cmd, bucket);
  verify_cmd->add_flag("--fix", fix, "remove bad entries and stale temp files");

  cli::Filters prune_f;
  auto* prune_cmd = app.add_subcommand(
      "prune", "remove expired entries (of all backends unless filtered) and stale temp files");
  add_bucket(prune_cmd, bucket);
  add_filters(prune_cmd, prune_f, "");

  cli::Filters clear_f;
  bool yes = false;
  auto* clear_cmd = app.add_subcommand("clear", "remove every entry (asks first unless --yes)");
  add_bucket(clear_cmd, bucket);
  add_filters(clear_cmd, clear_f, "");
  clear_cmd->add_flag("-y,--yes", yes, "do not ask");

  auto* du_cmd = app.add_subcommand("du", "space used: entries, temp and lock files");
  add_bucket(du_cmd, bucket);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "bucketcache: " << e.what() << " (see --help)\n";
    return cli::kExitError;
  }
  if (quiet && progress) {
    std::cerr << "bucketcache: --quiet and --progress contradict each other\n";
    return cli::kExitError;
  }
  g.progress = quiet      ? cli::ProgressMode::quiet
               : progress ? cli::ProgressMode::forced
                          : cli::ProgressMode::automatic;
  try {
    cli::Bucket b = cli::Bucket::open(bucket, g);
    if (ls_cmd->parsed()) return cli::cmd_ls(b, g, ls);
    if (show_cmd->parsed()) return cli::cmd_show(b, g, show);
    if (stats_cmd->parsed()) return cli::cmd_stats(b, g, stats_f);
    if (verify_cmd->parsed()) return cli::cmd_verify(b, g, fix);
    if (prune_cmd->parsed()) return cli::cmd_prune(b, g, prune_f);
    if (clear_cmd->parsed()) return cli::cmd_clear(b, g, clear_f, yes);
    if (du_cmd->parsed()) return cli::cmd_du(b, g);
  } catch (const std::exception& e) {
    std::cout.flush();
    cli::warn(e.what());
    return cli::kExitError;
  }
  return cli::kExitError;
}
