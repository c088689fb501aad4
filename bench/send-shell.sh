#!/usr/bin/env bash
# The shell pipeline a sysadmin would write, as the anchor of bench/send.ts:
# database CLI export → awk printf to the perso-v1 fixed width → gpg --encrypt -z0 → OpenSSH sftp put.
# It does less than bureau-exchange (no claim, no validation, no embossing rules, no state; the PAN
# column is last four digits behind a constant prefix, since awk cannot decrypt AES-GCM).
#
# With BOOKKEEPING=1 it also does the database writes the send job does, through the same CLI, as
# set-based statements: before the export, one transaction claims the cards (the batch and its items
# with record numbers; on PostgreSQL the cards' rows locked FOR UPDATE SKIP LOCKED, as the job must);
# after the rename, one transaction confirms them (batch sent, which is its cards' event since migration
# 007, cards InProduction with their batch id; on PostgreSQL their ids out of marked_contracts, 009). That is the floor of a pipeline that keeps the invariants of docs/design.md: no
# validation, no lease against a second runner, no crash recovery.
#
# With BOOKKEEPING=minimal it does the least bookkeeping that still claims and confirms: one set-based
# statement before the export (the Marked cards get the batch's id) and one after the rename (those cards
# InProduction). No items, no events: the floor any data model can reach with one write per card per step.
#
#   [BOOKKEEPING=1|minimal] bench/send-shell.sh sqlite|pg <sqlite file|postgres url> <recipient key file> <sftp port> <ssh key> <user> <remote dir>
set -euo pipefail
dialect=$1 source=$2 recipient=$3 port=$4 sshkey=$5 user=$6 remotedir=$7
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
name=BXISSUER_PERSO_20261126_000001.dat.pgp
now=2026-11-26T12:00:00.000Z
batch="(select id from perso_batches where file_name = '$name')"
columns="c.contract_number, c.plastic_id, c.pan_last4, c.plastic_seq, c.expiry, c.request_type, cl.first_name, cl.last_name,
  cl.company_name, cl.title, cl.address_line1, cl.address_line2, cl.address_line3, cl.postal_code, cl.city, cl.country, c.product_code,
  c.chip_profile, c.delivery_method, c.pin_mailer"
marked="from card_contracts c join clients cl on cl.id = c.client_id
  where c.production_status = 'Marked' and c.batch_id is null and c.card_form = 'physical'"
query="select $columns $marked order by c.id"
claimed_query="select $columns from batch_items bi join card_contracts c on c.id = bi.contract_id join clients cl on cl.id = c.client_id
  where bi.batch_id = $batch order by bi.record_number"

# one transaction of SQL on stdin
run_sql() {
  if [ "$dialect" = sqlite ]; then sqlite3 -batch -bail "$source"
  else psql -X -q -v ON_ERROR_STOP=1 --single-transaction "$source" >/dev/null; fi
}

claim() {
  run_sql <<SQL
${BEGIN:-}
insert into perso_batches (business_date, sequence, file_name, state, record_count, hash_total, attempts, created_at, updated_at)
  values ('2026-11-26', 1, '$name', 'claimed', 0, '0', 0, '$now', '$now');
${CLAIM_ITEMS}
update perso_batches set record_count = (select count(*) from batch_items where batch_id = $batch) where id = $batch;
${COMMIT:-}
SQL
}

confirm() {
  run_sql <<SQL
${BEGIN:-}
update perso_batches set state = 'sent', sent_at = '$now', updated_at = '$now',
  events_before = (select coalesce(max(id), 0) from contract_events) where id = $batch;
update card_contracts set production_status = 'InProduction', batch_id = $batch, updated_at = '$now'
  where production_status = 'Marked' and id in (select contract_id from batch_items where batch_id = $batch);
${FORGET:-}
${COMMIT:-}
SQL
}

minimal_claim() {
  run_sql <<SQL
${BEGIN:-}
insert into perso_batches (business_date, sequence, file_name, state, record_count, hash_total, attempts, created_at, updated_at)
  values ('2026-11-26', 1, '$name', 'claimed', 0, '0', 0, '$now', '$now');
update card_contracts set batch_id = $batch, updated_at = '$now'
  where production_status = 'Marked' and batch_id is null and card_form = 'physical';
${COMMIT:-}
SQL
}

minimal_confirm() {
  run_sql <<SQL
${BEGIN:-}
update perso_batches set state = 'sent', sent_at = '$now', updated_at = '$now' where id = $batch;
update card_contracts set production_status = 'InProduction', updated_at = '$now' where batch_id = $batch and production_status = 'Marked';
${COMMIT:-}
SQL
}

export_rows() {
  if [ "$dialect" = sqlite ]; then sqlite3 -batch -noheader -separator $'\t' "$source" "$query"
  else psql -X -q "$source" -c "copy ($query) to stdout"; fi
}

if [ "${BOOKKEEPING:-}" = 1 ]; then
  # psql --single-transaction wraps the script; sqlite3 needs the statements. PostgreSQL locks the rows it
  # claims, as the job must (FOR UPDATE SKIP LOCKED); SQLite has a single writer.
  if [ "$dialect" = sqlite ]; then
    BEGIN='begin immediate;' COMMIT='commit;'
    CLAIM_ITEMS="insert into batch_items (batch_id, record_number, contract_id) select $batch, row_number() over (order by c.id), c.id $marked;"
  else
    CLAIM_ITEMS="with locked as (select c.id $marked order by c.id for update of c skip locked)
      insert into batch_items (batch_id, record_number, contract_id) select $batch, row_number() over (order by id), id from locked;"
    # the ids of the cards no longer Marked leave the table the claim finds Marked cards in (migration 009)
    FORGET="delete from marked_contracts m where not exists (select 1 from card_contracts c where c.id = m.contract_id and c.production_status = 'Marked');"
  fi
  claim
  query=$claimed_query
elif [ "${BOOKKEEPING:-}" = minimal ]; then
  if [ "$dialect" = sqlite ]; then BEGIN='begin immediate;' COMMIT='commit;'; fi
  minimal_claim
  query="select $columns from card_contracts c join clients cl on cl.id = c.client_id
    where c.batch_id = $batch and c.production_status = 'Marked' order by c.id"
fi

export_rows | awk -F'\t' -v OFS='' '
  BEGIN { printf "HPERSOREQ%-8s%-8s%08d%06d%06d001T%401s\n", "BXISSUER", "BUREAU01", 20261126, 120000, 1, "" }
  {
    n++; hash = (hash + $1) % 1000000000000000
    first = toupper($7); last = toupper($8)
    printf "D%07d%015d%012d%-19s%03d%04d%-10s%-26s%-26s%-26s%-4s%-30s%-30s%-40s%-40s%-40s%-10s%-30s%-3s%-10s%-20s%1d%1s%42s\n",
      n, $1, $2, "411111XXXXXX" $3, $4, $5, $6, substr(first " " last, 1, 26), toupper($9), substr(last "/" first, 1, 26),
      toupper($10), first, last, toupper($11), toupper($12), toupper($13), $14, toupper($15), $16, $17, $18, $19, $20, ""
  }
  END { printf "T%07d%07d%015d%08d%06d%406s\n", n, n + 2, hash, 20261126, 1, "" }
' | gpg --batch --no-tty --quiet --homedir "$work" --trust-model always --compress-level 0 --recipient-file "$recipient" --encrypt --output "$work/$name"

sftp -q -i "$sshkey" -P "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -b - "$user@127.0.0.1" <<SFTP
put $work/$name $remotedir/$name.part
rename $remotedir/$name.part $remotedir/$name
SFTP

if [ "${BOOKKEEPING:-}" = 1 ]; then confirm; fi
if [ "${BOOKKEEPING:-}" = minimal ]; then minimal_confirm; fi
