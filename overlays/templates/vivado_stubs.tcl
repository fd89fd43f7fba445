# vivado_stubs.tcl -- dry run of a bnnfpga Vivado script under plain tclsh.
#
#   tclsh vivado_stubs.tcl vivado/build_bd.tcl [OVERLAY_DIR]
#
# Defines the Vivado commands the block-design script uses as stubs that record
# what they are asked to do (one "BNN<TAB>what<TAB>args..." line each on stdout),
# then runs the script from top to bottom. A command the script calls that is not
# stubbed here fails with Tcl's "invalid command name", so a typo or an unexpected
# command is caught. bnnfpga.build.dry_run parses the record and checks every cell,
# interface pin and pin named against the IP catalogue of the design.

proc rec {args} { puts "BNN\t[join $args \t]" }

# options with a value / flags, as Vivado's commands take them
proc parse_opts {arglist valued} {
  set opts [dict create]
  set rest {}
  for {set i 0} {$i < [llength $arglist]} {incr i} {
    set a [lindex $arglist $i]
    if {[string index $a 0] eq "-" && [lsearch -exact $valued $a] >= 0} {
      incr i
      dict set opts $a [lindex $arglist $i]
    } elseif {[string index $a 0] eq "-" && ![string is double -strict $a]} {
      dict set opts $a 1
    } else {
      lappend rest $a
    }
  }
  return [list $opts $rest]
}

# ---- project
proc create_project {args} {
  lassign [parse_opts $args {-part}] o rest
  rec project [lindex $rest 0] [dict get $o -part]
}
proc get_board_parts {args} { lassign [parse_opts $args {}] o rest; return $rest }
proc current_project {args} { return bnn_overlay }
proc current_fileset {args} { return sources_1 }
proc update_ip_catalog {args} { rec update_ip_catalog }
proc add_files {args} { lassign [parse_opts $args {-fileset}] o rest; rec add_files {*}$rest }
proc update_compile_order {args} {}
proc get_files {args} { lassign [parse_opts $args {-of_objects -filter}] o rest; return [lindex $rest end] }
proc set_property {args} {
  if {[lindex $args 0] eq "-dict"} {
    foreach {k v} [lindex $args 1] { rec prop [lindex $args 2] $k $v }
  } else {
    lassign $args k v obj
    rec prop $obj $k $v
  }
}
proc get_property {key obj} {
  switch -- $key {
    PROGRESS { return "100%" }
    STATUS { return "write_bitstream Complete!" }
    STATS.WNS { return 0.25 }
    DIRECTORY { return "/dry-run/impl_1" }
    default { rec get_property $key $obj; return "" }
  }
}

# ---- IP catalogue: two versions of every IP, the script must pick one
proc get_ipdefs {args} {
  lassign [parse_opts $args {-filter}] o rest
  set p [lindex $rest end]
  return [list [string map {:* :1.0} $p] [string map {:* :9.9} $p]]
}

# ---- block design
proc create_bd_design {name} { rec bd_design $name }
proc create_bd_cell {args} {
  lassign [parse_opts $args {-type -vlnv -reference}] o rest
  set type [dict get $o -type]
  if {$type eq "module"} { set what [dict get $o -reference] } else { set what [dict get $o -vlnv] }
  if {[llength $rest] != 1} { error "create_bd_cell: expected one cell name, got '$rest'" }
  rec cell [lindex $rest 0] $type $what
}
proc get_bd_cells {args} { lassign [parse_opts $args {}] o rest; rec ref_cell {*}$rest; return "/[lindex $rest 0]" }
proc get_bd_pins {args} { lassign [parse_opts $args {}] o rest; rec ref_pin {*}$rest; return "/[lindex $rest 0]" }
proc get_bd_intf_pins {args} { lassign [parse_opts $args {}] o rest; rec ref_intf {*}$rest; return "/[lindex $rest 0]" }
proc apply_bd_automation {args} {
  lassign [parse_opts $args {-rule -config}] o rest
  rec automation [dict get $o -rule] {*}$rest
}
proc connect_bd_intf_net {args} {
  if {[llength $args] != 2} { error "connect_bd_intf_net: expected two interface pins, got [llength $args]" }
  rec intf_net {*}$args
}
proc connect_bd_net {args} {
  if {[llength $args] < 2} { error "connect_bd_net: expected at least two pins, got [llength $args]" }
  rec net {*}$args
}
proc assign_bd_address {args} { rec assign_bd_address }
proc validate_bd_design {args} { rec validate_bd_design }
proc save_bd_design {args} { rec save_bd_design }

# ---- implementation
proc generate_target {args} { rec generate_target }
proc make_wrapper {args} { rec make_wrapper; return "/dry-run/bnn_bd_wrapper.v" }
proc launch_runs {args} { lassign [parse_opts $args {-to_step -jobs}] o rest; rec launch_runs {*}$rest [dict get $o -to_step] }
proc wait_on_run {args} { rec wait_on_run {*}$args }
proc get_runs {name} { return $name }
proc open_run {args} { rec open_run {*}$args }
proc report_utilization {args} { rec report utilization }
proc report_timing_summary {args} { rec report timing }

# ---- file system: no copies, every input "exists"
rename file tcl_file
proc file {sub args} {
  switch -- $sub {
    copy { rec copy {*}[lrange $args end-1 end]; return }
    exists - isdirectory { rec file_check $sub {*}$args; return 1 }
    default { return [tcl_file $sub {*}$args] }
  }
}
rename glob tcl_glob
proc glob {args} {
  lassign [parse_opts $args {}] o rest
  rec glob {*}$rest
  return [lrange $rest 0 0]
}

set script [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $script
rec done
